"""The fast start-up check reads the same head revision Alembic computes."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from loyaltybot.db.migrate import alembic_config, script_heads


def test_heads_from_files_match_alembic() -> None:
    expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert script_heads() == expected
    assert len(expected) == 1
