"""What the counter, rewards, team and offers use cases share: their dependencies."""

from __future__ import annotations

from loyaltybot.config import Program
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.services.clock import Clock


class ShopService:
    """A use-case service that signs QR payloads and checks staff roles (owners from OWNER_IDS)."""

    def __init__(
        self,
        *,
        writer: UnitOfWorkFactory,
        reader: UnitOfWorkFactory,
        program: Program,
        secret_key: bytes,
        clock: Clock,
        owner_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._program = program
        self._key = secret_key
        self._owner_ids = owner_ids
        self._clock = clock
