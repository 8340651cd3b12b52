"""Small server-rendered SVG charts (loss curves, edit distance over time): numbers in, SVG points out."""

import math
from typing import Any

from annotate.models import Project
from workers.latent_prefs import edit_distance_by_annotator

WIDTH, HEIGHT, PAD = 560, 180, 28


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    width: int = WIDTH,
    height: int = HEIGHT,
    x_labels: tuple[str, str] | None = None,
) -> dict[str, Any] | None:
    """series: {name: [(x, y), ...]} → dict for templates/workers/_chart.html, or None without data.
    x_labels: (first, last) to print under the x axis instead of the numbers."""
    points = [(x, y) for values in series.values() for x, y in values if _finite(x) and _finite(y)]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def sx(x):
        return round(PAD + (x - x0) / (x1 - x0) * (width - 2 * PAD), 1)

    def sy(y):
        return round(height - PAD - (y - y0) / (y1 - y0) * (height - 2 * PAD), 1)

    colours = ["#3b5bdb", "#c92a2a", "#2b8a3e", "#e67700"]
    lines = []
    for i, (name, values) in enumerate(series.items()):
        pts = [(sx(x), sy(y)) for x, y in values if _finite(x) and _finite(y)]
        if pts:
            lines.append(
                {
                    "name": name,
                    "colour": colours[i % len(colours)],
                    "points": " ".join(f"{x},{y}" for x, y in pts),
                    "dots": pts if len(pts) < 40 else [],
                }
            )
    first, last = x_labels or (_fmt(x0), _fmt(x1))
    return {
        "width": width,
        "height": height,
        "lines": lines,
        "x0": first,
        "x1": last,
        "y0": _fmt(y0),
        "y1": _fmt(y1),
        "left": PAD,
        "right": width - PAD,
        "top": PAD,
        "bottom": height - PAD,
    }


def loss_chart(metrics: dict[str, Any]) -> dict[str, Any] | None:
    history = metrics.get("history") or []
    series = {}
    for key in ("loss", "eval_loss"):
        values = [(h["step"], h[key]) for h in history if isinstance(h.get(key), (int, float))]
        if values:
            series[key] = values
    return line_chart(series)


def _finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v):
    return f"{v:.4g}"


def edit_distance_context(project: Project) -> dict[str, Any]:
    """CIPHER's cost metric on the runs page: mean edit distance per annotator per day."""
    by_annotator = edit_distance_by_annotator(project)
    days = sorted({day for series in by_annotator.values() for day, _, _ in series})
    index = {day: i for i, day in enumerate(days)}
    chart = (
        line_chart(
            {name: [(index[d], m) for d, m, _ in series] for name, series in by_annotator.items()},
            x_labels=(f"{days[0]:%Y-%m-%d}", f"{days[-1]:%Y-%m-%d}"),
        )
        if len(days) > 1
        else None
    )
    table = [
        {
            "name": name,
            "first": series[0][1],
            "last": series[-1][1],
            "edits": sum(n for _, _, n in series),
            "days": len(series),
        }
        for name, series in by_annotator.items()
    ]
    return {"edit_distance_table": table, "edit_distance_chart": chart}
