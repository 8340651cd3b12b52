import numpy as np
import pytest

from curation.agreement import fleiss_kappa, human_judge_agreement, krippendorff_alpha, position_bias, project_agreement
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories → κ ≈ 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=1e-3)


def test_krippendorff_alpha_agrees_with_the_package_and_edge_cases():
    import krippendorff

    units = {1: {"x": -3, "y": -2}, 2: {"x": 2, "y": 3, "z": 3}, 3: {"x": 0, "y": 1}, 4: {"y": 1}}
    data = np.array([[-3, 2, 0, np.nan], [-2, 3, 1, 1], [np.nan, 3, np.nan, np.nan]])
    expected = krippendorff.alpha(
        reliability_data=data, level_of_measurement="ordinal", value_domain=list(range(-3, 4))
    )
    assert krippendorff_alpha(units, "ordinal", list(range(-3, 4))) == pytest.approx(expected)
    assert krippendorff_alpha({1: {"x": 1}}) is None
    assert krippendorff_alpha({1: {"x": 2, "y": 2}, 2: {"x": 2, "y": 2}}) == 1.0


def _pairs(project, n=20):
    return [factories.item(project, prompt_obj=factories.prompt(project, text=f"q{i}")) for i in range(n)]


def test_project_agreement_high_for_agreeing_people_and_low_for_random(project):
    rng = np.random.default_rng(0)
    a, b = cd.person(project), cd.person(project)
    items = _pairs(project, 30)
    for it in items:
        pref = int(rng.choice([-3, -2, 2, 3]))
        cd.label(it, a, preference=pref, aspect_ratings={"helpfulness": {"a": 4, "b": 2}})
        cd.label(it, b, preference=pref, aspect_ratings={"helpfulness": {"a": 4, "b": 2}})
    result = project_agreement(project)
    assert result["pairwise"]["alpha_ordinal"] == pytest.approx(1.0)
    assert result["pairwise"]["fleiss_kappa_direction"] == pytest.approx(1.0)
    assert result["pairwise"]["cohen_kappa_direction"]["kappa"] == pytest.approx(1.0)
    assert result["aspects"]["helpfulness"]["alpha_ordinal"] == 1.0

    other = factories.project()
    c, d = cd.person(other), cd.person(other)
    for it in _pairs(other, 60):
        cd.label(it, c, preference=int(rng.integers(-3, 4)))
        cd.label(it, d, preference=int(rng.integers(-3, 4)))
    noisy = project_agreement(other)
    assert abs(noisy["pairwise"]["alpha_ordinal"]) < 0.3 and abs(noisy["pairwise"]["fleiss_kappa_direction"]) < 0.3


def test_human_judge_agreement_per_judge(project):
    person, good, contrarian = cd.person(project), cd.judge(project, "good"), cd.judge(project, "contrarian")
    for i, it in enumerate(_pairs(project, 10)):
        pref = 2 if i % 2 else -2
        cd.label(it, person, preference=pref)
        cd.label(it, good, preference=pref)
        cd.label(it, contrarian, preference=-pref)
    result = human_judge_agreement(project)
    by_name = {j["name"]: j for j in result["judges"]}
    assert by_name["judge:good"]["agreement"] == 1.0 and by_name["judge:good"]["kappa"] == pytest.approx(1.0)
    assert by_name["judge:contrarian"]["agreement"] == 0.0 and result["agreement"] == 0.5


def test_position_bias_uses_the_shown_order(project):
    lefty, fair = cd.person(project), cd.person(project)
    for i, it in enumerate(_pairs(project, 20)):
        swapped = bool(i % 2)
        # lefty always picks the left one: A when not swapped, B when swapped
        cd.label(it, lefty, preference=3 if swapped else -3, swapped=swapped)
        cd.label(it, fair, preference=-2, swapped=swapped)
    rates = {r["annotator_id"]: r for r in position_bias(project)}
    assert rates[lefty.pk]["left_rate"] == 1.0 and rates[lefty.pk]["p_value"] < 0.001
    assert rates[fair.pk]["left_rate"] == 0.5 and rates[fair.pk]["p_value"] > 0.5


def test_judge_position_bias_reads_both_orders(project):
    from annotate.models import Annotation

    jury = cd.judge(project, "first-picker")
    for _i, it in enumerate(_pairs(project, 12)):
        # always prefers whatever it is shown first: −2 in the AB order, −2 in the BA order → canonical 0
        verdicts = [
            {"order": "ab", "parsed": True, "preference_shown": -2, "preference": -2},
            {"order": "ba", "parsed": True, "preference_shown": -2, "preference": 2},
        ]
        Annotation.objects.create(
            item=it, annotator=jury, kind="pairwise", preference=0, details={"verdicts": verdicts}
        )
    (row,) = position_bias(project)
    assert row["name"] == "judge:first-picker" and row["decisive"] == 24 and row["left_rate"] == 1.0


def test_imported_sources_count_as_people_only_when_declared_human(project):
    """A source of model labels (AlpacaEval's GPT-4, say) is a judge to agreement, not a second
    person; a source declared human is a coder like any person."""
    person, gpt4, crowd = (
        cd.person(project),
        cd.source("gpt4", label_kind="judge"),
        cd.source("crowd", label_kind="human"),
    )
    items = _pairs(project, 12)
    for i, it in enumerate(items):
        cd.label(it, person, preference=2)
        cd.label(it, gpt4, preference=2 if i % 2 else -2)
    assert project_agreement(project)["pairwise"]["items_with_overlap"] == 0
    judged = human_judge_agreement(project)["judges"]
    assert [j["name"] for j in judged] == ["gpt4"] and judged[0]["agreement"] == pytest.approx(0.5)
    for it in items:
        cd.label(it, crowd, preference=2)
    assert project_agreement(project)["pairwise"]["items_with_overlap"] == 12
