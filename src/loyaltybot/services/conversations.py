"""Persisted conversation state (which step of a flow a user is in, and its draft data)."""

from __future__ import annotations

import json
from typing import Any

from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.services.clock import Clock


class ConversationService:
    def __init__(self, *, writer: UnitOfWorkFactory, reader: UnitOfWorkFactory, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock

    async def load(self, key: str) -> tuple[str | None, dict[str, Any]]:
        async with self._reader() as uow:
            row = await uow.conversations.get(key)
        if row is None:
            return None, {}
        state, data = row
        return state, json.loads(data)

    async def save(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        async with self._writer() as uow:
            await uow.conversations.put(key, state=state, data=json.dumps(data, default=str), now=self._clock())
            await uow.commit()
