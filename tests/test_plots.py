"""The routing chart: readable ticks, reference labels that do not overprint each other, and a
budget marker no curve shares a colour with."""

import re

from curation import plots
from curation.views.routing import STRATEGY_COLOURS


def chart(references, points=((0.0, 0.61, 0.01), (0.5, 0.655, 0.02), (1.0, 0.66, 0.01))):
    curve = plots.BandCurve("ppm", STRATEGY_COLOURS["ppm"], list(points))
    return str(plots.band_curves([curve], references, marker=0.3))


def test_ticks_are_round_numbers_that_cover_the_data():
    svg = chart([plots.Reference("all-human", 0.672, "#212529")])
    ticks = [float(t) for t in re.findall(r'dominant-baseline="middle" fill="[^"]+">([\d.]+)%<', svg)]
    assert ticks == [60.0, 62.0, 64.0, 66.0, 68.0]  # 0.60..0.68 in steps of 2 points, not 60.0, 61.8, …
    assert plots._tick_step(0.004) == 0.001 and plots._tick_step(0.3) == 0.05


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


def test_the_budget_marker_has_a_colour_of_its_own():
    svg = chart([])
    assert f'stroke="{plots.MARKER}" stroke-dasharray="4 3"' in svg and "budget 30%" in svg
    assert plots.MARKER not in STRATEGY_COLOURS.values()
