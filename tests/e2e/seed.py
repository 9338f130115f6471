"""Seeding many customers straight into the database (and, for e2e, into the emulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer


async def seed_customers(db: Database, telegram_ids: list[int], **overrides: Any) -> None:
    """Registered customers (opted in, active, English) in one multi-row INSERT per 1,000."""
    now = datetime.now(UTC)
    rows = [
        {
            "telegram_id": tid,
            "phone": f"+6011{tid:08d}",
            "first_name": f"Customer{tid}",
            "language": "en",
            "marketing_opt_in": True,
            "status": "active",
            "balance": 0,
            "stamps": 0,
            "member_key": f"k{tid}",
            "joined_at": now - timedelta(days=400),
            "consent_at": now,
            "consent_version": "test",
            **overrides,
        }
        for tid in telegram_ids
    ]
    async with db.write_sessions() as session:
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Customer), rows[start : start + 1000])
        await session.commit()


def open_chats(emulator: Any, telegram_ids: list[int]) -> None:
    """Each customer has talked to the bot before (else Telegram answers "chat not found")."""
    for tid in telegram_ids:
        emulator.user(tid)
        emulator._chats[tid].started = True  # as after a /start, without 2,000 updates to process
