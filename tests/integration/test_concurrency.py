"""Races that only a real database shows: many tasks (or processes) doing the same write at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loyaltybot.db.engine import create_database
from loyaltybot.db.models import AppSetting, ConversationState, Token
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.security import load_secret_key

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# Read-then-insert races. On SQLite every writer is serialized (one write connection per
# process, BEGIN IMMEDIATE across processes), so these pass there; on PostgreSQL two READ
# COMMITTED transactions both see "absent" and the second INSERT fails with IntegrityError.
async def test_configured_secret_key_wins(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    assert await load_secret_key(writer, "from-env") == b"from-env"
    assert await count(AppSetting) == 0


async def test_generated_secret_key_is_stored_once(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    first = await load_secret_key(writer, None)
    assert len(first) >= 43  # 32 random bytes, base64url
    assert await load_secret_key(writer, "") == first
    assert await count(AppSetting) == 1


async def _race(first_writer: Any, second: Any) -> Any:
    """Open transaction A (`first_writer` flushes its row, uncommitted), run `second` meanwhile,
    then commit A. `second` starts after A's INSERT and, on PostgreSQL, reaches its own
    check-then-insert while A is still open: the read says "absent", the INSERT waits for A."""
    flushed = asyncio.Event()

    async def a() -> None:
        await first_writer(flushed)

    async def b() -> Any:
        await flushed.wait()
        return await second()

    _, result = await asyncio.wait_for(asyncio.gather(a(), b()), 20)
    return result


async def test_secret_key_generated_by_two_processes_at_once_is_one_key(
    database: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    """Scaled out, worker processes start at the same time and each loads (or generates) the key."""
    other = create_database(database.url)  # another process
    writer, _ = uow_factories(database)

    async def first(flushed: asyncio.Event) -> None:
        async with writer() as uow:
            await uow.settings.put_if_absent("secret_key", "key-of-process-a")
            flushed.set()
            await asyncio.sleep(0.5)
            await uow.commit()

    try:
        key = await _race(first, lambda: load_secret_key(uow_factories(other)[0], None))
    finally:
        await other.dispose()
    assert key == b"key-of-process-a"


async def test_many_processes_loading_the_secret_key_agree(database: Any) -> None:
    """Once stored, every process gets the same key (no race: the key exists)."""
    first = await load_secret_key(uow_factories(database)[0], None)
    others = [create_database(database.url) for _ in range(4)]
    try:
        keys = await asyncio.gather(*(load_secret_key(uow_factories(db)[0], None) for db in others))
    finally:
        for db in others:
            await db.dispose()
    assert set(keys) == {first}


async def test_token_is_used_exactly_once_under_concurrency(database: Any) -> None:
    writer, reader = uow_factories(database)
    async with writer() as uow:
        await uow.tokens.add(Token(id="t" * 16, kind="s", created_at=NOW, expires_at=NOW + timedelta(minutes=10)))
        await uow.commit()

    async def claim(user: int) -> bool:
        async with writer() as uow:
            won = await uow.tokens.mark_used("t" * 16, used_by=user, now=NOW + timedelta(minutes=1))
            await uow.commit()
            return won

    results = await asyncio.gather(*(claim(100 + i) for i in range(20)))
    assert results.count(True) == 1
    async with reader() as uow:
        token = await uow.tokens.get("t" * 16)
        assert token is not None
        assert token.used_by == 100 + results.index(True)


async def test_expired_token_cannot_be_used(database: Any) -> None:
    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.tokens.add(Token(id="e" * 16, kind="s", created_at=NOW, expires_at=NOW + timedelta(minutes=10)))
        assert not await uow.tokens.mark_used("e" * 16, used_by=1, now=NOW + timedelta(minutes=10))
        assert await uow.tokens.mark_used("e" * 16, used_by=1, now=NOW + timedelta(minutes=9))
        assert not await uow.tokens.mark_used("e" * 16, used_by=2, now=NOW + timedelta(minutes=9))
        await uow.commit()


async def test_concurrent_first_saves_of_one_conversation(
    services: Any, count: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    """aiogram handles updates as concurrent tasks: two updates of one chat may save at once."""
    key = "bot:1:chat:5:user:5"
    writer, _ = uow_factories(services.database)

    async def first(flushed: asyncio.Event) -> None:
        async with writer() as uow:
            await uow.conversations.put(key, state="A", data='{"who": "a"}', now=NOW)
            flushed.set()
            await asyncio.sleep(0.5)
            await uow.commit()

    await _race(first, lambda: services.conversations.save(key, "B", {"who": "b"}))
    assert await count(ConversationState) == 1
    assert await services.conversations.load(key) == ("B", {"who": "b"})  # the later save wins


async def test_concurrent_first_staff_adds(
    services: Any, count: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    from loyaltybot.db.models import StaffMember

    writer, _ = uow_factories(services.database)

    async def first(flushed: asyncio.Event) -> None:
        async with writer() as uow:
            await uow.staff.add(StaffMember(telegram_id=2001, role="staff", added_at=NOW, active=True))
            flushed.set()
            await asyncio.sleep(0.5)
            await uow.commit()

    entry = await _race(first, lambda: services.staff.add(2001, added_by=1000, display_name="Siti"))
    assert entry.telegram_id == 2001
    assert await count(StaffMember) == 1
    assert await services.staff.role_of(2001) == "staff"
