"""The services of one process, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from loyaltybot.config import Program
from loyaltybot.services.clock import Clock
from loyaltybot.services.conversations import ConversationService
from loyaltybot.services.customers import CustomerService
from loyaltybot.services.dashboard import DashboardService
from loyaltybot.services.scans import ScanService
from loyaltybot.services.staff import StaffService
from loyaltybot.services.suggestions import SuggestionService
from loyaltybot.services.surveys import SurveyService


@dataclass(frozen=True, slots=True)
class Services:
    program: Program
    clock: Clock
    customers: CustomerService
    staff: StaffService
    conversations: ConversationService
    scans: ScanService
    dashboard: DashboardService
    surveys: SurveyService
    suggestions: SuggestionService
