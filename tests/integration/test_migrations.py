"""Migrations: every revision upgrades, downgrades and upgrades again (the stairway); head
matches the models; every constraint and index is named by the naming convention."""

from __future__ import annotations

import re
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, inspect
from sqlalchemy.engine import Connection

from loyaltybot.db import models  # noqa: F401  (registers the tables)
from loyaltybot.db.base import NAMING_CONVENTION, UTCDateTime, metadata
from loyaltybot.db.engine import create_database
from loyaltybot.db.migrate import alembic_config, current_revision, downgrade_database, upgrade_database


def _revisions() -> list[Any]:
    """Oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return list(reversed(list(script.walk_revisions("base", "heads"))))


REVISIONS = _revisions()
MODEL_TABLES = set(metadata.tables)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _table_names(db: Any) -> set[str]:
    async with db.read_engine.connect() as connection:
        return await connection.run_sync(_tables)


def test_there_is_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert REVISIONS, "no revisions found"


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda r: r.revision)
async def test_stairway(database_url: str, revision: Any) -> None:
    """Upgrade to the revision, downgrade one step, upgrade again: each step leaves a usable schema."""
    db = create_database(database_url)
    try:
        if revision.down_revision is not None:
            await upgrade_database(db, revision.down_revision)
        before = await _table_names(db)

        await upgrade_database(db, revision.revision)
        assert await current_revision(db) == (revision.revision,)
        after = await _table_names(db)

        await downgrade_database(db, "-1")
        expected_down = () if revision.down_revision is None else (revision.down_revision,)
        assert await current_revision(db) == expected_down
        assert await _table_names(db) == before

        await upgrade_database(db, revision.revision)
        assert await current_revision(db) == (revision.revision,)
        assert await _table_names(db) == after
    finally:
        await db.dispose()


async def test_full_stairway_down_to_base_and_back(database_url: str) -> None:
    db = create_database(database_url)
    try:
        await upgrade_database(db, "head")
        assert await _table_names(db) == MODEL_TABLES
        await downgrade_database(db, "base")
        assert await current_revision(db) == ()
        assert await _table_names(db) == set()
        await upgrade_database(db, "head")
        assert await _table_names(db) == MODEL_TABLES
        # "head" again is a no-op
        await upgrade_database(db, "head")
        assert await current_revision(db) == (REVISIONS[-1].revision,)
    finally:
        await db.dispose()


def _is_only_utc_datetime(diff: Any) -> bool:
    """("modify_type", schema, table, column, info, existing, new) where only UTCDateTime<->DateTime differ."""
    if not (isinstance(diff, tuple) and diff and diff[0] == "modify_type"):
        return False
    types = {type(t) for t in diff[5:7]}
    return types <= {DateTime, UTCDateTime}


def _flatten(diffs: list[Any]) -> list[Any]:
    out: list[Any] = []
    for diff in diffs:
        if isinstance(diff, list):  # modify_* entries come grouped per column
            out.extend(diff)
        else:
            out.append(diff)
    return out


def _compare(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, metadata)


async def test_head_matches_models(database: Any) -> None:
    async with database.read_engine.connect() as connection:
        diffs = await connection.run_sync(_compare)
    remaining = [d for d in _flatten(diffs) if not _is_only_utc_datetime(d)]
    assert remaining == []


def _expected_name(kind: str, table: str, columns: list[str], referred: str | None = None) -> str:
    template = NAMING_CONVENTION[kind]
    return template % {
        "table_name": table,
        "column_0_name": columns[0] if columns else "",
        "column_0_N_name": "_".join(columns),
        "column_0_label": f"{table}_{columns[0]}" if columns else "",
        "referred_table_name": referred or "",
        "constraint_name": "",
    }


def _reflect_constraints(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    result: dict[str, Any] = {}
    for table in sorted(_tables(connection)):
        result[table] = {
            "pk": inspector.get_pk_constraint(table),
            "uq": inspector.get_unique_constraints(table),
            "fk": inspector.get_foreign_keys(table),
            "ck": inspector.get_check_constraints(table),
            "ix": [ix for ix in inspector.get_indexes(table) if not ix.get("unique")],
        }
    return result


async def test_constraint_names_follow_the_convention(database: Any) -> None:
    async with database.read_engine.connect() as connection:
        reflected = await connection.run_sync(_reflect_constraints)
    assert set(reflected) == MODEL_TABLES
    problems: list[str] = []
    for table, found in reflected.items():
        if found["pk"].get("name") != f"pk_{table}":
            problems.append(f"{table}: primary key named {found['pk'].get('name')!r}")
        for uq in found["uq"]:
            expected = _expected_name("uq", table, uq["column_names"])
            if uq["name"] != expected:
                problems.append(f"{table}: unique {uq['column_names']} named {uq['name']!r}, want {expected!r}")
        for fk in found["fk"]:
            expected = _expected_name("fk", table, fk["constrained_columns"], fk["referred_table"])
            if fk["name"] != expected:
                problems.append(f"{table}: foreign key {fk['constrained_columns']} named {fk['name']!r}, want {expected!r}")
        for ck in found["ck"]:
            if not (ck["name"] or "").startswith(f"ck_{table}_") or ck["name"] == f"ck_{table}_":
                problems.append(f"{table}: check {ck['sqltext']!r} named {ck['name']!r}")
        for ix in found["ix"]:
            if not re.fullmatch(rf"ix_{table}_[a-z0-9_]+", ix["name"] or ""):
                problems.append(f"{table}: index {ix['column_names']} named {ix['name']!r}")
    assert problems == []


def _model_constraint_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for table in metadata.tables.values():
        found = {str(c.name) for c in table.constraints} | {str(i.name) for i in table.indexes}
        names[table.name] = found
    return names


def _reflected_names(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    names: dict[str, set[str]] = {}
    for table in _tables(connection):
        found: set[str] = {str(inspector.get_pk_constraint(table)["name"])}
        found |= {str(c["name"]) for c in inspector.get_unique_constraints(table)}
        found |= {str(c["name"]) for c in inspector.get_foreign_keys(table)}
        found |= {str(c["name"]) for c in inspector.get_check_constraints(table)}
        found |= {str(i["name"]) for i in inspector.get_indexes(table) if not i.get("unique")}
        names[table] = found
    return names


async def test_database_constraint_names_equal_the_models(database: Any) -> None:
    """Every named constraint/index of the models exists under the same name in the database."""
    async with database.read_engine.connect() as connection:
        reflected = await connection.run_sync(_reflected_names)
    assert reflected == _model_constraint_names()


async def test_comparison_is_not_vacuous(database: Any) -> None:
    """The model comparison above would notice a missing table and a changed column."""
    from sqlalchemy import Column, Integer, MetaData, String, Table

    altered = MetaData(naming_convention=NAMING_CONVENTION)
    for table in metadata.tables.values():
        table.to_metadata(altered)
    Table("not_migrated", altered, Column("id", Integer, primary_key=True))
    altered.tables["app_settings"].c.key.type = String(65)

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return _flatten(compare_metadata(context, altered))

    async with database.read_engine.connect() as connection:
        diffs = await connection.run_sync(compare)
    kinds = {d[0] for d in diffs}
    assert "add_table" in kinds
    assert "modify_type" in kinds
