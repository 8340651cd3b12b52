"""Small server-rendered SVG charts, the one chart module of every page (dashboard, routing, runs;
the runs app says what to plot, workers.charts), with no JavaScript and no chart library.
Every piece of text is escaped, bidi controls made visible: annotator and judge names are user input."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape as _escape
from django.utils.safestring import SafeString, mark_safe

from annotate.rendering import neutralise_bidi


def escape(text: object) -> str:
    return neutralise_bidi(str(_escape(text)))


BLUE, RED, GREY, MUTED = "#3b5bdb", "#c92a2a", "#e3e6ea", "#6b7280"
MARKER = "#f08c00"  # a chosen value (budget, threshold): amber, which no strategy or reference uses
HALO = 'stroke="white" stroke-width="3" paint-order="stroke"'  # text over lines stays legible


MIN_SPAN = 0.02  # of a y axis in accuracy units: two points


def _decimals(step: float) -> int:
    """Decimals that tell ticks `step` apart: 2 → 0, 2.5 → 1, 0.25 → 2."""
    for digits in range(4):
        if abs(round(step, digits) - step) < 1e-9:
            return digits
    return 4


def _tick_step(span: float, most: int = 6) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k whose ticks cover `span` in at most `most` intervals."""
    for exponent in range(-4, 2):
        for m in (1, 2, 2.5, 5):
            step = m * 10**exponent
            if span / step <= most:
                return step
    return 10.0


def _svg(width: float, height: float, body: str, label: str) -> SafeString:
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" style="max-width:100%;height:auto" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">{body}</svg>'
    )


def histogram(
    counts: Sequence[float],
    edges: Sequence[float],
    marker: float | None = None,
    marker_label: str = "",
    width: int = 520,
    height: int = 180,
    label: str = "histogram",
) -> SafeString:
    """Vertical bars for counts over [edges[i], edges[i+1]); an optional vertical marker (e.g. ε)."""
    if not counts:
        return _svg(width, 40, f'<text x="0" y="20" fill="{MUTED}">No data yet</text>', label)
    left, bottom, top = 36, 24, 10
    plot_w, plot_h = width - left - 24, height - bottom - top
    peak = max(counts) or 1
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1
    bar_w = plot_w / len(counts)
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GREY}"/>']
    for i, c in enumerate(counts):
        h = plot_h * c / peak
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" fill="{BLUE}">'
            f"<title>{edges[i]:.2f}–{edges[i + 1]:.2f}: {c}</title></rect>"
        )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        x = left + plot_w * frac
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{lo + span * frac:.2f}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')
    if marker is not None:
        x = left + plot_w * (marker - lo) / span
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{RED}" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{top + 10}" fill="{RED}">{escape(marker_label)}</text>')
    return _svg(width, height, "".join(parts), label)


def hbars(
    rows: Sequence[tuple[str, float, bool]],
    reference: float | None = None,
    width: int = 520,
    bar_h: int = 18,
    label: str = "bars",
    lo: float = 0.0,
    hi: float = 1.0,
    fmt: str = "{:.0%}",
) -> SafeString:
    """Horizontal bars [(name, value, highlighted)] on a lo..hi axis, with an optional reference line."""
    if not rows:
        return _svg(width, 40, f'<text x="0" y="20" fill="{MUTED}">No data yet</text>', label)
    name_w, pad = 150, 4
    plot_w = width - name_w - 50
    height = len(rows) * (bar_h + pad) + 20
    span = (hi - lo) or 1
    parts = []
    for i, (name, value, highlight) in enumerate(rows):
        y = i * (bar_h + pad)
        w = plot_w * (min(max(value, lo), hi) - lo) / span
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<text x="{name_w - 6}" y="{y + bar_h - 5}" text-anchor="end"><title>{escape(name)}</title>{escape(short)}</text>'
        )
        parts.append(f'<rect x="{name_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#f1f3f5"/>')
        parts.append(
            f'<rect x="{name_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{RED if highlight else BLUE}"/>'
        )
        parts.append(f'<text x="{name_w + plot_w + 6}" y="{y + bar_h - 5}">{escape(fmt.format(value))}</text>')
    if reference is not None:
        x = name_w + plot_w * (reference - lo) / span
        bottom = len(rows) * (bar_h + pad)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{bottom}" stroke="{MUTED}" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{escape(fmt.format(reference))}</text>')
    return _svg(width, height, "".join(parts), label)


def coefficient_bars(rows: Sequence[Any], width: int = 520, bar_h: int = 16, label: str = "coefficients") -> SafeString:
    """A forest plot: one row per (name, Estimate|None), the point and its 95% CI on a symmetric axis
    around 0 (the no-effect line)."""
    rows = [(name, est) for name, est in rows if est is not None and est.value is not None]
    if not rows:
        return _svg(width, 40, f'<text x="0" y="20" fill="{MUTED}">No data yet</text>', label)
    name_w, pad = 150, 4
    plot_w = width - name_w - 60
    bound = max(max(abs(e.value), abs(e.low or 0), abs(e.high or 0)) for _, e in rows) or 1.0
    height = len(rows) * (bar_h + pad) + 20

    def x(v):
        return name_w + plot_w * (min(max(v, -bound), bound) + bound) / (2 * bound)

    parts = [
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{len(rows) * (bar_h + pad)}" stroke="{MUTED}" stroke-dasharray="4 3"/>'
    ]
    for i, (name, e) in enumerate(rows):
        y = i * (bar_h + pad) + bar_h / 2
        short = name if len(name) <= 22 else name[:21] + "…"
        colour = RED if e.excludes_zero else BLUE
        parts.append(
            f'<text x="{name_w - 6}" y="{y + 4:.1f}" text-anchor="end"><title>{escape(name)}</title>{escape(short)}</text>'
        )
        if e.low is not None:
            parts.append(
                f'<line x1="{x(e.low):.1f}" y1="{y:.1f}" x2="{x(e.high):.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x(e.value):.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{e.value:.2f}</title></circle>'
        )
        parts.append(f'<text x="{name_w + plot_w + 6}" y="{y + 4:.1f}">{e.value:+.2f}</text>')
    bottom = len(rows) * (bar_h + pad) + 14
    parts.append(f'<text x="{x(-bound):.1f}" y="{bottom}" text-anchor="start">{-bound:.2f}</text>')
    parts.append(f'<text x="{x(0):.1f}" y="{bottom}" text-anchor="middle">0</text>')
    parts.append(f'<text x="{x(bound):.1f}" y="{bottom}" text-anchor="end">{bound:.2f}</text>')
    return _svg(width, height, "".join(parts), label)


PALETTE = ("#3b5bdb", "#c92a2a", "#2b8a3e", "#e8590c", "#862e9c", "#0b7285", "#5c940d", "#a61e4d")


def simplex_scatter(
    points: Sequence[Any], k: int, size: int = 320, label: str = "annotators by mixture weights"
) -> SafeString:
    """Annotators placed by their group weights: each group a vertex of a regular polygon, each
    annotator at the weighted mean of the vertices (K = 2: a line). points = [(name, weights)]."""
    import math

    if not points or k < 2:
        return _svg(size, 40, f'<text x="0" y="20" fill="{MUTED}">One group: nothing to place</text>', label)
    c, r = size / 2, size / 2 - 30
    if k == 2:
        vertices = [(30.0, c), (size - 30.0, c)]
    else:
        vertices = [(c + r * math.sin(2 * math.pi * g / k), c - r * math.cos(2 * math.pi * g / k)) for g in range(k)]
    parts = []
    if k > 2:
        parts.append(
            f'<polygon points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in vertices)}" fill="none" stroke="{GREY}"/>'
        )
    else:
        parts.append(f'<line x1="{vertices[0][0]}" y1="{c}" x2="{vertices[1][0]}" y2="{c}" stroke="{GREY}"/>')
    for g, (x, y) in enumerate(vertices):
        parts.append(
            f'<text x="{x:.1f}" y="{y - 8 if y < c or k == 2 else y + 16:.1f}" text-anchor="middle" '
            f'fill="{PALETTE[g % len(PALETTE)]}">group {g + 1}</text>'
        )
    for i, (name, weights) in enumerate(points):
        x = sum(w * vx for w, (vx, _) in zip(weights, vertices))
        y = sum(w * vy for w, (_, vy) in zip(weights, vertices))
        if k == 2:
            y += ((i * 37) % 41) - 20  # jitter so annotators at the same weight stay visible
        g = max(range(len(weights)), key=lambda j: weights[j])
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{PALETTE[g % len(PALETTE)]}" fill-opacity="0.7">'
            f"<title>{escape(name)}: {', '.join(f'{w:.2f}' for w in weights)}</title></circle>"
        )
    return _svg(size, size, "".join(parts), label)


LINE_COLOURS = ["#3b5bdb", "#c92a2a", "#2b8a3e", "#d9480f", "#6741d9", "#0b7285"]


def lines(
    series: dict[str, list[tuple[float, float]]],
    x_labels: Sequence[str] = (),
    width: int = 520,
    height: int = 200,
    label: str = "lines",
    y_lo: float | None = None,
    y_hi: float | None = None,
    fmt: str = "{:g}",
) -> SafeString:
    """One polyline per series {name: [(x, y), ...]} (x numeric, e.g. a day's index) with a legend;
    x_labels: the first and last x printed under the axis. Names and labels are escaped."""
    points = [(x, y) for values in series.values() for x, y in values if y is not None]
    if not points:
        return _svg(width, 40, f'<text x="0" y="20" fill="{MUTED}">No data yet</text>', label)
    left, right, top, bottom = 44, 130, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0 = min(ys) if y_lo is None else y_lo
    y1 = max(ys) if y_hi is None else y_hi
    x1, y1 = (x1 if x1 != x0 else x0 + 1), (y1 if y1 != y0 else y0 + 1)

    def sx(x):
        return left + plot_w * (x - x0) / (x1 - x0)

    def sy(y):
        return top + plot_h - plot_h * (min(max(y, y0), y1) - y0) / (y1 - y0)

    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GREY}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{GREY}"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{escape(fmt.format(y1))}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{escape(fmt.format(y0))}</text>',
    ]
    if x_labels:
        parts.append(f'<text x="{left}" y="{height - 6}">{escape(x_labels[0])}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end">{escape(x_labels[-1])}</text>')
    for i, (name, values) in enumerate(series.items()):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        pts = [(sx(x), sy(y), x, y) for x, y in values if y is not None]
        if not pts:
            continue
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts)}"/>'
        )
        for px, py, _, y in pts[:200]:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"><title>{escape(name)}: {escape(fmt.format(y))}</title></circle>'
            )
        short = name if len(name) <= 16 else name[:15] + "…"
        parts.append(
            f'<text x="{left + plot_w + 8}" y="{top + 10 + 14 * i}" fill="{colour}"><title>{escape(name)}</title>{escape(short)}</text>'
        )
    return _svg(width, height, "".join(parts), label)


@dataclass(frozen=True)
class BandCurve:
    """One curve over x in 0..1: (x, mean, sd) points; drawn as a line in a ±sd band."""

    name: str
    colour: str
    points: list[tuple[float, float, float]]
    bold: bool = False


@dataclass(frozen=True)
class Reference:
    """A horizontal reference line with its label (e.g. what all-human labels reach)."""

    label: str
    value: float
    colour: str


def band_curves(
    curves: list[BandCurve],
    references: list[Reference],
    marker: float | None = None,
    x_title: str = "",
    label: str = "curves",
    marker_label: str = "",
    width: int = 600,
    height: int = 280,
    pad: int = 44,
    y_title: str = "",
) -> SafeString | None:
    """Curves with ±sd bands over x in 0..1 (e.g. a human budget), y as percentages, horizontal
    reference lines and an optional vertical marker at x (with `marker_label` above it). None when
    there is nothing to draw."""
    values = [v for c in curves for _, m, d in c.points for v in (m - d, m + d)] + [r.value for r in references]
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo < MIN_SPAN:  # a flat series: a readable window around it, not ticks 0.01 points apart
        lo, hi = (lo + hi) / 2 - MIN_SPAN / 2, (lo + hi) / 2 + MIN_SPAN / 2
    step = _tick_step(hi - lo)
    low = math.floor(lo / step + 1e-6) * step  # the tolerance absorbs 0.6 / 0.02 = 29.999…
    high = math.ceil(hi / step - 1e-6) * step
    right, bottom = width - pad, height - pad

    def x(b: float) -> float:
        return pad + b * (width - 2 * pad)

    def y(q: float) -> float:
        return height - pad - (q - low) / (high - low) * (height - 2 * pad)

    parts = [
        f'<line x1="{pad}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#adb5bd"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{bottom}" stroke="#adb5bd"/>',
    ]
    digits = _decimals(100 * step)
    for t in range(round((high - low) / step) + 1):
        q = low + step * t
        parts.append(
            f'<line x1="{pad}" x2="{right}" y1="{y(q):.1f}" y2="{y(q):.1f}" stroke="#f1f3f5"/>'
            f'<text x="{pad - 4}" y="{y(q):.1f}" font-size="10" text-anchor="end" dominant-baseline="middle" '
            f'fill="{MUTED}">{100 * q:.{digits}f}%</text>'
        )
    for b in range(0, 11, 2):
        parts.append(
            f'<text x="{x(b / 10):.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle" fill="{MUTED}">{b * 10}%</text>'
        )
    if x_title:
        parts.append(
            f'<text x="{right}" y="{height - 4}" font-size="11" text-anchor="end" fill="{MUTED}">{escape(x_title)}</text>'
        )
    if y_title:
        parts.append(f'<text x="{pad - 40}" y="{pad - 14}" font-size="11" fill="{MUTED}">{escape(y_title)}</text>')
    if marker is not None:
        parts.append(
            f'<line x1="{x(marker):.1f}" x2="{x(marker):.1f}" y1="{pad}" y2="{bottom}" stroke="{MARKER}" stroke-dasharray="4 3"/>'
            f'<text x="{x(marker) + (-3 if marker > 0.8 else 3):.1f}" y="{pad - 4}" font-size="10" '
            f'text-anchor="{"end" if marker > 0.8 else "start"}" fill="{MARKER}">{escape(marker_label)}</text>'
        )
    for c in curves:
        if not c.points:
            continue
        band = [f"{x(b):.1f},{y(m + d):.1f}" for b, m, d in c.points]
        band += [f"{x(b):.1f},{y(m - d):.1f}" for b, m, d in reversed(c.points)]
        line = " ".join(f"{x(b):.1f},{y(m):.1f}" for b, m, _ in c.points)
        parts.append(
            f'<polygon fill="{c.colour}" fill-opacity="0.08" stroke="none" points="{" ".join(band)}"/>'
            f'<polyline fill="none" stroke="{c.colour}" stroke-width="{3 if c.bold else 1.5}" points="{line}">'
            f"<title>{escape(c.name)}</title></polyline>"
        )
    # references last, their labels haloed: drawn over the curves, readable where they cross
    label_ys: list[float] = []
    for r in sorted(references, key=lambda r: -r.value):  # top to bottom; a label too close to the one
        ly = y(r.value) - 3  # above it goes under its own line instead of over the other label
        if label_ys and ly - label_ys[-1] < 11:
            ly = max(y(r.value) + 11, label_ys[-1] + 11)
        ly = min(ly, bottom - 3)  # never over the x axis's labels
        label_ys.append(ly)
        parts.append(
            f'<line x1="{pad}" x2="{right}" y1="{y(r.value):.1f}" y2="{y(r.value):.1f}" stroke="{r.colour}" stroke-dasharray="2 3"/>'
            f'<text x="{right}" y="{ly:.1f}" font-size="10" text-anchor="end" fill="{r.colour}" {HALO}>{escape(r.label)}</text>'
        )
    return _svg(width, height, "".join(parts), label)
