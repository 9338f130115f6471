"""Dashboard charts are valid PNG images; matplotlib is not imported until a chart is drawn."""

from __future__ import annotations

import io
import subprocess
import sys

from PIL import Image

from loyaltybot.config import PROJECT_ROOT
from loyaltybot.render import charts

MONTHS = ["2026-01", "2026-02", "2026-03"]


def _png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.verify()
    return Image.open(io.BytesIO(data))


def test_charts_are_pngs() -> None:
    members = charts.members_chart(MONTHS, [2, 4, 5], [2, 3, 2], title="t", members_label="m", active_label="a")
    points = charts.points_chart(MONTHS, [10, 40, 55], [0, 5, 8], title="t", issued_label="i", redeemed_label="r")
    cohorts = charts.cohort_heatmap(
        MONTHS, [2, 1, 0], {(0, 0): 2, (0, 1): 2, (0, 2): 1, (1, 1): 1}, title="t", joined_label="j", month_label="m"
    )
    for data in (members, points, cohorts):
        assert _png(data).size[0] > 300


def test_matplotlib_is_imported_lazily() -> None:
    script = "import loyaltybot.app, loyaltybot.render.charts, sys; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONPATH": str(PROJECT_ROOT / "src")}
    )
    assert result.stdout.strip() == "False", result.stderr
