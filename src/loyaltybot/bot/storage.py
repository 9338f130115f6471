"""aiogram FSM storage kept in the database (through a service), so a restart loses no
conversation: a customer half-way through registration, or a pending `/start <payload>`.

Reads are served from memory after the first load. Changes made while an update is
handled are written in one transaction when it finishes (`ConversationFlushMiddleware`),
not one per `set_state`/`set_data` call. This suits the default single bot process;
several webhook workers use Redis (REDIS_URL).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from aiogram.types import TelegramObject

from loyaltybot.services.conversations import ConversationService

Entry = tuple[str | None, dict[str, Any]]


class ServiceStorage(BaseStorage):
    def __init__(self, conversations: ConversationService, *, cache_size: int = 20_000) -> None:
        self._conversations = conversations
        self._keys = DefaultKeyBuilder(with_destiny=True)
        self._cache: OrderedDict[str, Entry] = OrderedDict()
        self._dirty: set[str] = set()
        self._cache_size = cache_size

    def _remember(self, name: str, value: Entry) -> None:
        self._cache[name] = value
        self._cache.move_to_end(name)
        while len(self._cache) > self._cache_size:
            oldest = next(iter(self._cache))
            if oldest in self._dirty:  # never drop an unsaved change
                break
            self._cache.popitem(last=False)

    async def _load(self, key: StorageKey) -> tuple[str, str | None, dict[str, Any]]:
        name = self._keys.build(key)
        cached = self._cache.get(name)
        if cached is None:
            cached = await self._conversations.load(name)
        self._remember(name, cached)
        return name, cached[0], cached[1]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name, current, data = await self._load(key)
        value = state.state if isinstance(state, State) else state
        if value == current:
            return  # unchanged (e.g. clearing an idle conversation): nothing to write
        self._remember(name, (value, data))
        self._dirty.add(name)

    async def get_state(self, key: StorageKey) -> str | None:
        _, state, _ = await self._load(key)
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name, state, current = await self._load(key)
        new_data = copy.deepcopy(dict(data))
        if new_data == current:
            return
        self._remember(name, (state, new_data))
        self._dirty.add(name)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, _, data = await self._load(key)
        return copy.deepcopy(data)

    async def flush(self, key: StorageKey) -> None:
        """Write the conversation of `key` if it changed (one transaction)."""
        name = self._keys.build(key)
        if name not in self._dirty:
            return
        self._dirty.discard(name)
        state, data = self._cache[name]
        try:
            await self._conversations.save(name, state, data)
        except BaseException:
            self._dirty.add(name)
            raise

    async def close(self) -> None:
        self._cache.clear()
        self._dirty.clear()


class ConversationFlushMiddleware(BaseMiddleware):
    """After each update, persist what its handlers changed in the user's conversation."""

    def __init__(self, storage: ServiceStorage) -> None:
        self._storage = storage

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        finally:
            state: FSMContext | None = data.get("state")
            if state is not None:
                await self._storage.flush(state.key)
