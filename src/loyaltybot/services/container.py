"""The services of one process, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from loyaltybot.config import Program
from loyaltybot.services.activity import ActivityService
from loyaltybot.services.broadcasts import BroadcastService
from loyaltybot.services.clock import Clock
from loyaltybot.services.conversations import ConversationService
from loyaltybot.services.counter import CounterService
from loyaltybot.services.customers import CustomerService
from loyaltybot.services.dashboard import DashboardService
from loyaltybot.services.loyalty import LoyaltyService
from loyaltybot.services.offers import OfferService
from loyaltybot.services.outbox import OutboxService
from loyaltybot.services.rewards import RewardService
from loyaltybot.services.scans import ScanService
from loyaltybot.services.staff import StaffService
from loyaltybot.services.suggestions import SuggestionService
from loyaltybot.services.surveys import SurveyService
from loyaltybot.services.team import TeamService


@dataclass(frozen=True, slots=True)
class Services:
    program: Program
    clock: Clock
    customers: CustomerService
    staff: StaffService
    conversations: ConversationService
    scans: ScanService
    counter: CounterService
    team: TeamService
    activity: ActivityService
    outbox: OutboxService
    broadcasts: BroadcastService
    rewards: RewardService
    loyalty: LoyaltyService
    dashboard: DashboardService
    surveys: SurveyService
    suggestions: SuggestionService
    offers: OfferService
