"""aiogram FSM storage kept in the database (through a service), so a restart loses no
conversation: a customer half-way through registration, or a pending `/start <payload>`.

Reads are served from memory after the first load; every change is written through. This
suits the default single bot process; several webhook workers use Redis (REDIS_URL).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from loyaltybot.services.conversations import ConversationService


class ServiceStorage(BaseStorage):
    def __init__(self, conversations: ConversationService) -> None:
        self._conversations = conversations
        self._keys = DefaultKeyBuilder(with_destiny=True)
        self._cache: dict[str, tuple[str | None, dict[str, Any]]] = {}

    async def _load(self, key: StorageKey) -> tuple[str, str | None, dict[str, Any]]:
        name = self._keys.build(key)
        cached = self._cache.get(name)
        if cached is None:
            cached = await self._conversations.load(name)
            self._cache[name] = cached
        return name, cached[0], cached[1]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name, current, data = await self._load(key)
        value = state.state if isinstance(state, State) else state
        if value == current:
            return  # unchanged (e.g. clearing an idle conversation): no write transaction
        await self._conversations.save(name, value, data)
        self._cache[name] = (value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        _, state, _ = await self._load(key)
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name, state, current = await self._load(key)
        new_data = copy.deepcopy(dict(data))
        if new_data == current:
            return
        await self._conversations.save(name, state, new_data)
        self._cache[name] = (state, new_data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, _, data = await self._load(key)
        return copy.deepcopy(data)

    async def close(self) -> None:
        self._cache.clear()
