"""Layer rules (DESIGN.md) and no import-time side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loyaltybot.config import PROJECT_ROOT


def test_layer_contracts_hold() -> None:
    """domain is pure; services and db never import aiogram; bot never imports SQLAlchemy."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(PROJECT_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PROJECT_ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_importing_every_module_has_no_side_effects(tmp_path: Path) -> None:
    """Importing the whole package creates no database, bot, or file (composition root only)."""
    script = (
        "import importlib, pkgutil, loyaltybot\n"
        "for m in pkgutil.walk_packages(loyaltybot.__path__, 'loyaltybot.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PROJECT_ROOT / "src"), "PATH": "/usr/bin:/bin", "BOT_TOKEN": ""},
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
