"""`loyaltybot jobs list` and `loyaltybot jobs run NAME [--date]` against a real database."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from loyaltybot.config import PROJECT_ROOT, Program
from loyaltybot.services.jobs import JOBS, as_of_for


def run_cli(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "src"),
        "DATABASE_URL": database_url,
        "PROGRAM_FILE": str(tmp_path / "program.toml"),
        "SECRET_KEY": "cli-test-secret",
    }
    return subprocess.run(
        [sys.executable, "-m", "loyaltybot", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_as_of_is_the_end_of_the_day_in_the_shop_time_zone() -> None:
    tz = ZoneInfo("Asia/Kuala_Lumpur")
    now = datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert as_of_for(None, now, tz) == now
    assert as_of_for(date(2027, 1, 31), now, tz) == datetime(2027, 2, 1, 0, 0, tzinfo=tz)
    assert set(JOBS) == {"expire-points", "expire-redemptions", "review-tiers", "redemption-reminders", "birthday",
                         "festivals", "win-back", "reminders", "invite-surveys"}


def test_each_job_has_its_next_run_in_shop_time() -> None:
    program = Program()
    tz = program.shop.tz
    now = datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Kuala Lumpur
    assert JOBS["birthday"].next_run(now, program) == datetime(2026, 11, 24, 9, 0, tzinfo=tz)
    assert JOBS["expire-points"].next_run(now, program) == datetime(2026, 11, 24, 3, 0, tzinfo=tz)
    early = datetime(2026, 11, 22, 23, 0, tzinfo=ZoneInfo("UTC"))  # 07:00 on the 23rd in Kuala Lumpur
    assert JOBS["festivals"].next_run(early, program) == datetime(2026, 11, 23, 9, 0, tzinfo=tz)
    assert JOBS["expire-redemptions"].next_run(now, program) == datetime(2026, 11, 23, 10, 5, tzinfo=tz)
    assert JOBS["redemption-reminders"].next_run(now, program) == datetime(2026, 11, 23, 10, 1, tzinfo=tz)


async def test_jobs_list_and_run(database_url: str, tmp_path: Path) -> None:
    listed = run_cli("jobs", "list", database_url=database_url, tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [line[0] for line in lines] == list(JOBS)
    assert all(datetime.fromisoformat(line[1]).utcoffset() == timedelta(hours=8) for line in lines)
    lapse = next(line for line in lines if line[0] == "redemption-reminders")
    assert "reserved reward about to lapse" in lapse[2]
    ran = run_cli("jobs", "run", "redemption-reminders", database_url=database_url, tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "redemption-reminders: nothing due\n"
    ran = run_cli("jobs", "run", "expire-points", "--date", "2027-12-01", database_url=database_url, tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "expire-points: expired 0 points of 0 customers\n"
    bad = run_cli("jobs", "run", "no-such-job", database_url=database_url, tmp_path=tmp_path)
    assert bad.returncode == 2 and "unknown job" in bad.stderr
    bad_date = run_cli("jobs", "run", "expire-points", "--date", "1/12/2027", database_url=database_url, tmp_path=tmp_path)
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
