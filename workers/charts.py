"""What the runs pages plot (a fine-tune's loss per step, edit distance per annotator per day);
curation.plots, the one chart module, draws it as escaped SVG."""

import math
from typing import Any

from django.utils.safestring import SafeString

from annotate.models import Project
from curation import plots
from workers.latent_prefs import edit_distance_by_annotator


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def loss_chart(metrics) -> SafeString | None:
    """Training and eval loss per step, or None before any is logged."""
    history = metrics.get("history") or []
    series = {}
    for key in ("loss", "eval_loss"):
        values = [(h["step"], h[key]) for h in history if _finite(h.get(key)) and _finite(h.get("step"))]
        if values:
            series[key] = values
    return plots.lines(series, label="loss curve", fmt="{:.4g}") if series else None


def edit_distance_context(project: Project) -> dict[str, Any]:
    """CIPHER's cost metric on the runs page: mean edit distance per annotator per day."""
    by_annotator = edit_distance_by_annotator(project)
    days = sorted({day for series in by_annotator.values() for day, _, _ in series})
    index = {day: i for i, day in enumerate(days)}
    chart = (
        plots.lines(
            {name: [(index[d], m) for d, m, _ in series] for name, series in by_annotator.items()},
            x_labels=(f"{days[0]:%Y-%m-%d}", f"{days[-1]:%Y-%m-%d}"),
            label="edit distance per day",
            fmt="{:.3g}",
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
