"""Dashboard charts as PNG bytes (matplotlib, Agg backend, imported only when drawing).

Figures are built with the object API (no pyplot global state), so charts can be drawn in a
worker thread while the bot keeps serving. Labels arrive already translated.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any


def _figure(width: float = 8, height: float = 4.5) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def members_chart(months: Sequence[str], members: Sequence[int], active: Sequence[int], *, title: str, members_label: str, active_label: str) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(months, members, marker="o", label=members_label)
    axes.bar(months, active, alpha=0.5, label=active_label, color="tab:green")
    axes.set_title(title)
    axes.legend()
    axes.tick_params(axis="x", labelrotation=45)
    axes.set_ylim(bottom=0)
    return _png(figure)


def points_chart(months: Sequence[str], issued: Sequence[int], redeemed: Sequence[int], *, title: str, issued_label: str, redeemed_label: str) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    positions = range(len(months))
    axes.bar([p - 0.2 for p in positions], issued, width=0.4, label=issued_label, color="tab:blue")
    axes.bar([p + 0.2 for p in positions], redeemed, width=0.4, label=redeemed_label, color="tab:orange")
    axes.set_xticks(list(positions), list(months), rotation=45)
    axes.set_title(title)
    axes.legend()
    return _png(figure)


def cohort_heatmap(
    months: Sequence[str],
    sizes: Sequence[int],
    active: Mapping[tuple[int, int], int],
    *,
    title: str,
    joined_label: str,
    month_label: str,
) -> bytes:
    """Rows: the month customers joined; columns: months since; cells: % of the cohort active."""
    count = len(months)
    grid: list[list[float]] = []
    for cohort in range(count):
        row = []
        for age in range(count):
            month = cohort + age
            if month >= count or not sizes[cohort]:
                row.append(float("nan"))
            else:
                row.append(100.0 * active.get((cohort, month), 0) / sizes[cohort])
        grid.append(row)
    figure = _figure(9, 6)
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap="Greens", vmin=0, vmax=100, aspect="auto")
    for cohort in range(count):
        for age in range(count):
            value = grid[cohort][age]
            if value == value:  # not NaN
                axes.text(age, cohort, f"{value:.0f}", ha="center", va="center", fontsize=7)
    axes.set_yticks(range(count), [f"{m} ({n})" for m, n in zip(months, sizes, strict=True)])
    axes.set_xticks(range(count), [f"+{age}" for age in range(count)])
    axes.set_ylabel(joined_label)
    axes.set_xlabel(month_label)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="%")
    return _png(figure)
