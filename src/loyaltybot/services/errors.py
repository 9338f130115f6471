"""Errors a use case reports to the user; the bot maps each `code` to a localized message."""

from __future__ import annotations

from loyaltybot.domain.errors import DomainError


class NotRegistered(DomainError):
    code = "not_registered"


class ContactNotOwn(DomainError):
    code = "contact_not_own"


class PhoneInvalid(DomainError):
    code = "phone_invalid"


class PhoneTaken(DomainError):
    code = "phone_taken"


class NotAllowed(DomainError):
    """The acting user lacks the role this action needs (checked on the server)."""

    code = "not_allowed"


class StaffNotFound(DomainError):
    code = "staff_not_found"
