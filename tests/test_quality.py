import numpy as np
import pytest

from curation.quality import annotator_quality, dawid_skene, gold_accuracy
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def test_dawid_skene_recovers_annotator_accuracies():
    rng = np.random.default_rng(1)
    truth = rng.choice([-1, 1], 400)
    # three informative workers: with only two, DS cannot tell which of them is right when they disagree
    accuracies = {"good": 0.92, "ok": 0.8, "meh": 0.7, "spam": 0.5}
    table = [
        (t, w, int(truth[t] if rng.random() < acc else -truth[t])) for t in range(400) for w, acc in accuracies.items()
    ]
    result = dawid_skene(table)
    for worker, acc in accuracies.items():
        assert result.accuracy[worker] == pytest.approx(acc, abs=0.07)
    wrong = sum(max(p, key=p.get) != truth[t] for t, p in result.posteriors.items())
    assert wrong / 400 < 0.1


def test_quality_flags_the_spammer_and_counts_gold(project):
    rng = np.random.default_rng(2)
    good = [cd.person(project, f"good{i}") for i in range(3)]
    spammer = cd.person(project, "spammer")
    for i in range(60):
        truth = int(rng.choice([-2, 2]))
        gold = i < 10
        it = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"q{i}"),
            is_gold=gold,
            gold_answer={"preference": truth} if gold else None,
        )
        for who in good:
            cd.label(it, who, preference=truth if rng.random() < 0.9 else -truth)
        cd.label(it, spammer, preference=int(rng.choice([-2, 2])), swapped=bool(rng.integers(2)))
    acc = gold_accuracy(project)
    assert acc[spammer.pk]["n"] == 10 and 0 <= acc[spammer.pk]["accuracy"] <= 1
    table = {r["name"]: r for r in annotator_quality(project)}
    assert table["spammer"]["flagged"] and any("Dawid" in f for f in table["spammer"]["flags"])
    assert not any(table[f"good{i}"]["flagged"] for i in range(3))
    assert table["good0"]["ds"]["pairwise"]["accuracy"] > 0.8
    assert set(table["good0"]["ds"]["pairwise"]["confusion"]) == {-1, 1}
