"""Base class for domain rule violations.

Domain code never formats user-facing text: the bot owns localisation. Every
domain error therefore carries a stable, machine-readable ``code`` (used as a
translation key) plus optional ``details`` (values to interpolate, such as a
maximum amount), so the presentation layer can render a message in the
customer's language without parsing exception strings.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule was violated; ``code`` identifies which one."""

    code: str = "domain_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        # Keep details as a plain dict so callers can pass them straight to a
        # translation function, e.g. ``_(err.code, **err.details)``.
        self.details: dict[str, Any] = details
        super().__init__(message if message is not None else self.code)
