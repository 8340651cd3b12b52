"""The routing chart: readable ticks, reference labels that do not overprint each other, and a
budget marker no curve shares a colour with."""

import re

from curation import plots
from curation.views.routing import STRATEGY_COLOURS


def chart(references, points=((0.0, 0.61, 0.01), (0.5, 0.655, 0.02), (1.0, 0.66, 0.01))):
    curve = plots.BandCurve("ppm", STRATEGY_COLOURS["ppm"], list(points))
    return str(plots.band_curves([curve], references, marker=0.3, marker_label="budget 30%"))


def ticks(svg):
    return re.findall(r'dominant-baseline="middle" fill="[^"]+">([\d.]+)%<', svg)


def test_ticks_are_round_numbers_that_cover_the_data():
    svg = chart([plots.Reference("all-human", 0.672, "#212529")])
    assert ticks(svg) == ["60", "62", "64", "66", "68"]  # 0.60..0.68 in steps of 2 points, not 60.0, 61.8, …
    assert plots._tick_step(0.004) == 0.001 and plots._tick_step(0.3) == 0.05


def test_tick_labels_are_distinct_for_every_step_and_for_flat_data():
    wide = chart([], points=((0.0, 0.71, 0.0), (1.0, 0.84, 0.0)))  # a 13-point span: steps of 2.5
    assert ticks(wide) == ["70.0", "72.5", "75.0", "77.5", "80.0", "82.5", "85.0"]
    for flat in ((0.0, 1.0, 0.0), (1.0, 1.0, 0.0)), ((0.0, 0.8012, 0.0), (1.0, 0.8015, 0.0)):
        labels = ticks(chart([], points=flat))
        assert len(labels) == len(set(labels)) >= 3, labels  # a window of two points, never "100.0%, 100.0%"


def test_close_reference_labels_do_not_overprint():
    svg = chart(
        [plots.Reference("all-human 0.650", 0.650, "#212529"), plots.Reference("all-judge 0.648", 0.648, "#868e96")]
    )
    ys = [
        float(y)
        for y in re.findall(
            r'<text x="[\d.]+" y="([\d.]+)" font-size="10" text-anchor="end" fill="#(?:212529|868e96)"', svg
        )
    ]
    assert len(ys) == 2 and abs(ys[0] - ys[1]) >= 11


def test_the_budget_marker_and_the_references_have_colours_of_their_own():
    from curation.views.routing import REFERENCE_COLOURS

    svg = chart([])
    assert f'stroke="{plots.MARKER}" stroke-dasharray="4 3"' in svg and "budget 30%" in svg
    taken = [*STRATEGY_COLOURS.values(), *REFERENCE_COLOURS.values(), plots.MARKER]
    assert len(taken) == len(set(taken))
    full = str(
        plots.band_curves(
            [plots.BandCurve("x", "#3b5bdb", [(0.0, 0.6, 0.0), (1.0, 0.7, 0.0)])],
            [],
            marker=1.0,
            marker_label="budget 100%",
        )
    )
    assert 'text-anchor="end" fill="#f08c00">budget 100%' in full  # inside the chart, not cut off at its edge
