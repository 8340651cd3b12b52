"""Preference groups: planted groups recovered (adjusted Rand index), one group gives K = 1, and a
split the groups explain is controversial, not noise."""

import json
import random

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from sklearn.metrics import adjusted_rand_score

from annotate.models import Annotation
from curation import actions
from curation.formats import iter_jsonl
from curation.mixture import Labels, choose_and_fit
from curation.models import ItemNoise, NoiseRun, PreferenceGroupRun
from curation.noise import run_noise
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories
from workers.models import TaskRun
from workers.tasks.pluralism import fit_preference_groups, start_group_run


def planted(groups, annotators=30, items=400, per=60, dims=16, seed=0, strength=3.0):
    """Synthetic pair features and labels: each annotator follows one of `groups` random BT heads."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(items, dims))
    heads = rng.normal(size=(groups, dims))
    heads /= np.linalg.norm(heads, axis=1, keepdims=True)
    truth = np.arange(annotators) % groups
    a, i, y = [], [], []
    for u in range(annotators):
        chosen = rng.choice(items, per, replace=False)
        p = 1 / (1 + np.exp(-strength * x[chosen] @ heads[truth[u]]))
        a += [u] * per
        i += list(chosen)
        y += list((rng.random(per) < p).astype(int))
    return x, Labels(np.array(a), np.array(i), np.array(y)), truth


@pytest.mark.parametrize("seed", [0, 1])
def test_three_planted_groups_are_recovered(seed):
    x, labels, truth = planted(3, seed=seed)
    fit = choose_and_fit(x, labels, 30, k_max=4, seed=seed)
    assert fit.k == 3
    assert adjusted_rand_score(truth, fit.weights.argmax(axis=1)) > 0.9
    assert fit.heldout[3] > fit.heldout[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_one_group_gives_k_1(seed):
    x, labels, _ = planted(1, seed=seed)
    fit = choose_and_fit(x, labels, 30, k_max=4, seed=seed)
    assert fit.k == 1 and fit.weights.shape == (30, 1)


def _cats_and_dogs(project):
    """Four cat people prefer the answer about cats, two dog people the one about dogs (so the cat
    side wins each item 4–2, not a tie); one neutral item splits both groups (plain noise)."""
    rng = random.Random(0)
    cats, dogs = [cd.person(project, f"cat-{i}") for i in range(4)], [cd.person(project, f"dog-{i}") for i in range(2)]
    items = []
    for i in range(40):
        cat = f"Cats are the best pets: independent, quiet and clean ({i})."
        dog = f"Dogs are the best pets: loyal, playful and protective ({i})."
        cat_is_a = rng.random() < 0.5
        item = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"Which pet should I get, question {i}?"),
            text_a=cat if cat_is_a else dog,
            text_b=dog if cat_is_a else cat,
        )
        for who in cats:
            cd.label(item, who, preference=-2 if cat_is_a else 2)
        for who in dogs:
            cd.label(item, who, preference=2 if cat_is_a else -2)
        items.append(item)
    neutral = factories.item(
        project,
        prompt_obj=factories.prompt(project, text="What is the capital of France?"),
        text_a="Paris.",
        text_b="The capital of France is Paris.",
    )
    for who, pref in zip(cats + dogs, [1, 1, 1, -1, 1, -1]):  # B wins 4–2, neither group agrees within itself
        cd.label(neutral, who, preference=pref)
    return cats, dogs, items, neutral


@pytest.mark.django_db
def test_groups_fitted_by_the_worker_flag_controversial_items_that_noise_actions_skip(project, manager_user):
    cats, dogs, items, neutral = _cats_and_dogs(project)
    run = start_group_run(project)
    fit_preference_groups.apply(args=[run.pk])
    run = TaskRun.objects.get(pk=run.pk)
    assert run.state == "succeeded", run.error
    groups = PreferenceGroupRun.objects.get(project=project)
    assert groups.k == 2
    member = {a["name"]: int(np.argmax(a["weights"])) for a in groups.annotators}
    assert len({member[p.name] for p in cats}) == 1 and len({member[p.name] for p in dogs}) == 1
    assert member[cats[0].name] != member[dogs[0].name]
    controversial = set(groups.controversial)
    assert len(controversial & {it.pk for it in items}) >= 35  # (nearly) every cat-or-dog item
    assert neutral.pk not in controversial  # a split nobody's group explains stays a noise question

    # Noise actions skip controversial items; ε leaves them out.
    noise = NoiseRun.objects.create(project=project, method="t", epsilon=0.5, epsilon_low=0.4, epsilon_high=0.6)
    for it in [items[0], neutral]:
        ItemNoise.objects.create(item=it, run=noise, p_wrong=0.9, label={"direction": 1})
    assert actions.noisy_items(project, 0.5) == [neutral.pk]

    # Exports carry the flag; the pluralistic export gives one row per group that takes a side.
    snapshot = freeze_snapshot(project, test_fraction=0)
    rows = [json.loads(x) for x in b"".join(iter_jsonl(snapshot, "preference")).decode().splitlines()]
    flags = {r["item_id"]: r["controversial"] for r in rows}
    assert flags[items[0].pk] is True and flags[neutral.pk] is False
    plural = [json.loads(x) for x in b"".join(iter_jsonl(snapshot, "pluralistic")).decode().splitlines()]
    first = [r for r in plural if r["item_id"] == items[0].pk]
    assert len(first) == 2 and {r["group"] for r in first} == {0, 1} and first[0]["chosen"] == first[1]["rejected"]
    cat_group = member[cats[0].name]
    cat_row = next(r for r in first if r["group"] == cat_group)
    assert cat_row["chosen"].startswith(" Cats")  # rendered completion, as in the text formats

    # The stored router reproduces its fit-time weights for a prompt, and they are a distribution.
    from curation.pluralism import embed, route_prompt

    top = groups.details["top_disagreements"][0]
    stored = groups.details["router_weights"][str(top)]
    prompt = next(it for it in items + [neutral] if it.pk == top).prompt.text
    assert route_prompt(groups, embed([prompt])[0]) == pytest.approx(stored, abs=1e-3)
    assert sum(stored) == pytest.approx(1, abs=1e-3)

    # A noise run's ε leaves the controversial items out.
    noise_run = run_noise(project, use_embeddings=False)
    pairwise = noise_run.details["per_kind"]["pairwise"]
    assert pairwise["controversial_left_out"] == len(controversial)
    kept = ItemNoise.objects.filter(item__project=project, label__kind="pairwise").exclude(item_id__in=controversial)
    assert noise_run.epsilon == pytest.approx(np.mean([n.p_wrong for n in kept]))

    # The page: groups, members, disagreements; managers only; names escaped.
    c = Client()
    c.force_login(manager_user)
    html = c.get(reverse("curation:groups", args=[project.pk])).content.decode()
    assert "2 groups" in html and cats[0].name in html and "Where the groups disagree most" in html and "<svg" in html


@pytest.mark.django_db
def test_groups_page_managers_only_and_escaped(project, manager_user, annotator_user):
    PreferenceGroupRun.objects.create(
        project=project,
        k=2,
        heldout={"1": -0.6, "2": -0.4},
        item_probs={},
        controversial=[],
        annotators=[
            {
                "annotator_id": 1,
                "name": "<img src=x onerror=alert(1)>",
                "kind": "human",
                "labels": 3,
                "weights": [0.9, 0.1],
            }
        ],
        details={"pi": [0.5, 0.5], "labels": 3, "items": 1},
    )
    c = Client()
    c.force_login(annotator_user)
    assert c.get(reverse("curation:groups", args=[project.pk])).status_code in (403, 404)
    assert c.post(reverse("curation:run_groups", args=[project.pk])).status_code in (403, 404)
    c.force_login(manager_user)
    html = c.get(reverse("curation:groups", args=[project.pk])).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html


@pytest.mark.django_db
def test_too_few_labels_is_a_clear_error(project):
    from curation.pluralism import fit_groups

    item = factories.item(project)
    cd.label(item, cd.person(project), preference=1)
    with pytest.raises(ValueError, match="at least 10"):
        fit_groups(project)
    assert not Annotation.objects.filter(item=item).exclude(preference=1).exists()


@pytest.mark.django_db
def test_per_group_snapshot_keeps_only_that_groups_labels(project, manager_user):
    from curation.labels import pseudonym
    from curation.models import Snapshot
    from curation.snapshots import manifest

    cats, dogs, items, neutral = _cats_and_dogs(project)
    judge = cd.judge(project)
    for it in items[:5]:
        cd.label(it, judge, preference=3)
    with pytest.raises(actions.CurationError, match="no preference groups"):
        freeze_snapshot(project, filters={"group": 1})
    # The fit itself is tested above; here the groups are given: cats in 0, dogs in 1.
    PreferenceGroupRun.objects.create(
        project=project,
        k=2,
        heldout={},
        item_probs={},
        controversial=[],
        annotators=[
            {
                "annotator_id": p.pk,
                "name": p.name,
                "kind": "human",
                "labels": 41,
                "weights": [0.9, 0.1] if p in cats else [0.2, 0.8],
            }
            for p in cats + dogs
        ],
    )
    with pytest.raises(actions.CurationError, match="group 2 does not exist"):
        freeze_snapshot(project, filters={"group": 2})

    snapshot = freeze_snapshot(project, filters={"group": 1}, test_fraction=0)
    dog_ids = {pseudonym(p.pk) for p in dogs}
    labels = [json.loads(x) for x in b"".join(iter_jsonl(snapshot, "labels")).decode().splitlines()]
    assert labels and {r["annotator"] for r in labels} == dog_ids  # no cat, no judge
    prefs = [json.loads(x) for x in b"".join(iter_jsonl(snapshot, "preference")).decode().splitlines()]
    # Re-aggregated from the dog people alone: the dog answer wins every cat-or-dog item (4–2 overall
    # went to cats), and the neutral item, which the dog people split 1–1, is a tie and left out.
    assert len(prefs) == len(items) and all(r["chosen"].strip().startswith("Dogs") for r in prefs)
    assert all(r.data["n_labels"] == 2 for r in snapshot.rows.all())
    m = manifest(snapshot)
    assert m["filters"] == {"group": 1}
    assert m["group"]["members"] == sorted(dog_ids) and m["group"]["group_run"] == PreferenceGroupRun.objects.get().pk
    everyone = freeze_snapshot(project, test_fraction=0)
    assert manifest(everyone)["group"] is None
    rows = [json.loads(x) for x in b"".join(iter_jsonl(everyone, "preference")).decode().splitlines()]
    assert all(r["chosen"].strip().startswith("Cats") for r in rows if r["item_id"] != neutral.pk)

    # The dashboard's freeze form offers the groups and freezes a per-group snapshot.
    c = Client()
    c.force_login(manager_user)
    html = c.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    assert "Group 2 (2 members)" in html and "Group 1 (4 members)" in html
    response = c.post(
        reverse("curation:freeze", args=[project.pk]), {"test_fraction": "0", "group": "0", "name": "cats"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    cat_snapshot = Snapshot.objects.get(project=project, name="cats")
    assert cat_snapshot.filters["group"] == 0
    assert {
        r["annotator"]
        for r in (json.loads(x) for x in b"".join(iter_jsonl(cat_snapshot, "labels")).decode().splitlines())
    } == {pseudonym(p.pk) for p in cats}
