"""Who may do what. The role is always resolved on the server for each update."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    OWNER = "owner"

    @property
    def is_staff(self) -> bool:
        """Owners can do everything staff can."""
        return self in (Role.STAFF, Role.OWNER)

    @property
    def is_owner(self) -> bool:
        return self is Role.OWNER
