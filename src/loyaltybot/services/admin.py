"""Operator tasks from the shell: a full export and a consistent backup."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer, LedgerEntry


async def export_all(db: Database) -> dict[str, Any]:
    """Customers (personal data included: this is the owner's own copy) and the ledger."""
    async with db.read_sessions() as session:
        customers = (await session.execute(select(Customer).order_by(Customer.id))).scalars().all()
        ledger = (await session.execute(select(LedgerEntry).order_by(LedgerEntry.id))).scalars().all()
    return {
        "customers": [
            {
                "id": c.id,
                "telegram_id": c.telegram_id,
                "phone": c.phone,
                "first_name": c.first_name,
                "language": c.language,
                "status": c.status,
                "balance": c.balance,
                "stamps": c.stamps,
                "marketing_opt_in": c.marketing_opt_in,
                "joined_at": c.joined_at.isoformat(),
                "last_visit_at": c.last_visit_at.isoformat() if c.last_visit_at else None,
            }
            for c in customers
        ],
        "ledger": [
            {
                "id": e.id,
                "customer_id": e.customer_id,
                "delta": e.delta,
                "kind": e.kind,
                "balance_after": e.balance_after,
                "spend_sen": e.spend_sen,
                "created_at": e.created_at.isoformat(),
            }
            for e in ledger
        ],
    }


async def backup(db: Database, destination: Path) -> str:
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        source = url.database
        assert source
        if destination.exists():
            raise FileExistsError(f"{destination} exists; choose a new file")

        def copy() -> None:
            # VACUUM INTO writes a consistent snapshot even while the bot keeps writing.
            with sqlite3.connect(source, timeout=30) as connection:
                connection.execute("VACUUM INTO ?", (str(destination),))

        await asyncio.to_thread(copy)
        return f"backup written to {destination}"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise FileNotFoundError("pg_dump is not installed; install the PostgreSQL client to back up")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    await asyncio.to_thread(
        subprocess.run, [pg_dump, "--no-owner", "--file", str(destination), dsn], check=True
    )
    return f"backup written to {destination}"
