"""`loyaltybot` command line: run, db upgrade, staff, jobs, export, backup."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loyaltybot.config import Settings

# Modules beyond the standard library are imported inside the commands, after `main` has paused
# the garbage collector (see `cmd_run`).


def _settings() -> Settings:
    from pydantic import ValidationError

    from loyaltybot.config import ConfigError, Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{'.'.join(str(p) for p in first['loc']).upper()}: {first['msg']}") from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiogram logs every handled update with its id and timing at INFO; keep that at DEBUG.
    if level.upper() != "DEBUG":
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- commands


def cmd_run(_args: argparse.Namespace) -> int:
    settings = _settings()
    settings.require_bot_token()  # before loading aiogram: a missing token is reported at once
    settings.webhook_enabled()
    # The collector is still paused (see `main`): importing aiogram, SQLAlchemy and the app
    # allocates about a million objects that live as long as the process, and collecting would
    # walk them again and again (~0.3 s of a ~2 s start-up). `run` freezes them and turns the
    # collector back on once the bot is built.
    from loyaltybot import startup

    startup.install()
    from loyaltybot.app import run

    asyncio.run(run(settings))
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from loyaltybot.db.engine import create_database
    from loyaltybot.db.migrate import current_revision, upgrade_database

    async def go() -> None:
        db = create_database(_settings().async_database_url)
        try:
            await upgrade_database(db)
            print(f"database is at revision {', '.join(await current_revision(db))}")
        finally:
            await db.dispose()

    asyncio.run(go())
    return 0


async def _with_core(action: Any) -> Any:
    from loyaltybot.app import build_core

    core = await build_core(_settings())
    try:
        return await action(core)
    finally:
        await core.close()


async def _sync_commands(core: Any, telegram_id: int) -> None:
    """Best effort: refresh the person's command menu if the bot token is configured."""
    if core.settings.bot_token is None:
        return
    from aiogram.exceptions import TelegramAPIError
    from aiohttp import ClientError

    from loyaltybot.app import build_bot
    from loyaltybot.bot import commands
    from loyaltybot.bot.i18n import build_i18n

    bot = build_bot(core.settings)
    try:
        role = await core.services.staff.role_of(telegram_id)
        i18n = build_i18n(core.settings.locales_dir, core.program.shop.default_language)
        await commands.publish_chat_commands(bot, i18n, telegram_id, role)
    except (TelegramAPIError, ClientError, OSError) as error:
        print(f"(command menu not updated now: {error}; it is updated at the next start)", file=sys.stderr)
    finally:
        await bot.session.close()


def cmd_staff(args: argparse.Namespace) -> int:
    from loyaltybot.domain.roles import Role
    from loyaltybot.services.errors import StaffNotFound

    async def go(core: Any) -> int:
        staff = core.services.staff
        if args.staff_command == "list":
            owners = sorted(staff.owner_ids)
            for owner in owners:
                print(f"{owner}\towner\t(OWNER_IDS)")
            for entry in await staff.list():
                print(f"{entry.telegram_id}\t{entry.role.value}\tadded {entry.added_at:%Y-%m-%d}")
            if not owners and not await staff.list():
                print("no staff yet: loyaltybot staff add TELEGRAM_ID")
            return 0
        if args.staff_command == "add":
            role = Role.OWNER if args.owner else Role.STAFF
            await staff.add(args.telegram_id, role=role, added_by=None)
            print(f"{args.telegram_id} is now {role.value}")
        else:
            if args.telegram_id in staff.owner_ids:
                print(f"{args.telegram_id} is an owner through OWNER_IDS: remove it there", file=sys.stderr)
                return 1
            try:
                await staff.remove(args.telegram_id, removed_by=None)
            except StaffNotFound:
                print(f"{args.telegram_id} is not staff", file=sys.stderr)
                return 1
            print(f"{args.telegram_id} is no longer staff")
        await _sync_commands(core, args.telegram_id)
        return 0

    return int(asyncio.run(_with_core(go)))


def cmd_export(args: argparse.Namespace) -> int:
    from loyaltybot.services.admin import export_all

    async def go(core: Any) -> dict[str, Any]:
        return await export_all(core.db)

    data = asyncio.run(_with_core(go))
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from loyaltybot.services.admin import backup

    async def go(core: Any) -> str:
        return await backup(core.db, Path(args.path))

    print(asyncio.run(_with_core(go)))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from loyaltybot.services.jobs import JOBS, as_of_for, run_job

    if args.jobs_command == "list":
        from datetime import UTC, datetime

        from loyaltybot.config import load_program

        program = load_program(_settings().program_file)
        now = datetime.now(UTC)
        for job in JOBS.values():
            print(f"{job.name}\t{job.next_run(now, program).isoformat(timespec='minutes')}\t{job.description}")
        return 0
    if args.name not in JOBS:
        print(f"unknown job {args.name!r}; known: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    day = None
    if args.date:
        from datetime import date

        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            print(f"--date {args.date!r}: use YYYY-MM-DD", file=sys.stderr)
            return 2

    async def go(core: Any) -> str:
        services = core.services
        as_of = as_of_for(day, services.clock(), core.program.shop.tz)
        return await run_job(args.name, services, as_of)

    print(f"{args.name}: {asyncio.run(_with_core(go))}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyaltybot",
        description="Self-hosted Telegram loyalty assistant. Configuration comes from the environment or .env.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (long polling, or webhook when WEBHOOK_URL is set)")
    run.set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations (run also does this)")
    upgrade.set_defaults(func=cmd_db_upgrade)

    staff = sub.add_parser("staff", help="manage staff and owners")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help="make a Telegram user staff")
    add.add_argument("telegram_id", type=int, help="the person's numeric Telegram user id")
    add.add_argument("--owner", action="store_true", help="make them an owner instead of staff")
    add.set_defaults(func=cmd_staff)
    remove = staff_sub.add_parser("remove", help="remove a staff member")
    remove.add_argument("telegram_id", type=int)
    remove.set_defaults(func=cmd_staff)
    lst = staff_sub.add_parser("list", help="list owners and staff")
    lst.set_defaults(func=cmd_staff)

    jobs = sub.add_parser("jobs", help="maintenance jobs (the scheduler runs them daily)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_list = jobs_sub.add_parser("list", help="list the jobs")
    jobs_list.set_defaults(func=cmd_jobs)
    jobs_run = jobs_sub.add_parser("run", help="run one job now")
    jobs_run.add_argument("name", help="the job's name (see `loyaltybot jobs list`)")
    jobs_run.add_argument("--date", help="act as of the end of this day (YYYY-MM-DD, shop time zone); default now")
    jobs_run.set_defaults(func=cmd_jobs)

    export = sub.add_parser("export", help="export customers and the ledger as JSON")
    export.add_argument("output", nargs="?", default="-", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_export)

    backup = sub.add_parser("backup", help="write a consistent copy of the database")
    backup.add_argument("path", help="destination file (SQLite) or .sql file (PostgreSQL, needs pg_dump)")
    backup.set_defaults(func=cmd_backup)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    gc.disable()  # start-up imports; `run` turns it back on after building the bot, the rest below
    try:
        from loyaltybot.config import ConfigError

        parser = build_parser()
        args = parser.parse_args(argv)
        if args.func is not cmd_run:
            gc.enable()
        try:
            settings = _settings()
            configure_logging(settings.log_level)
            code = args.func(args)
        except ConfigError as error:
            print(f"loyaltybot: {error}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            code = 130
    finally:
        gc.enable()
    sys.exit(code)
