"""The installation's secret key: from SECRET_KEY, or generated once and kept in the database."""

from __future__ import annotations

import base64
import secrets

from loyaltybot.db.uow import UnitOfWorkFactory

_KEY_NAME = "secret_key"


async def load_secret_key(writer: UnitOfWorkFactory, configured: str | None) -> bytes:
    if configured:
        return configured.encode()
    async with writer() as uow:
        value = await uow.settings.put_if_absent(_KEY_NAME, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        await uow.commit()
    return value.encode()
