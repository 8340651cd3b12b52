import numpy as np
import pytest
from django.urls import reverse

from bench.noise import run as run_bench
from curation.models import ItemNoise, NoiseRun
from curation.noise import bootstrap_epsilon, estimate, knn_votes
from tests import curation_data as cd
from tests import factories
from workers.models import TaskRun
from workers.tasks.noise import estimate_noise, start_noise_run


def test_synthetic_flips_are_detected_and_epsilon_is_close():
    r = run_bench(items=1500, seed=3, flip_rate=0.1)
    print(f"AUROC {r['auroc']:.3f}  ε true {r['epsilon_true']:.3f}  ε̂ {r['epsilon_hat']:.3f}")
    assert r["auroc"] > 0.8
    assert r["epsilon_error"] < 0.1
    assert 0 <= r["epsilon_ci"][0] <= r["epsilon_ci"][1] <= 1


def test_knn_votes_respect_pair_symmetry():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    y = np.where(x[:, 0] > 0, 1, -1)
    # mirrored copies: (−d, −y) must vote like (d, y)
    votes = knn_votes(np.vstack([x, -x]), np.concatenate([y, -y]), k=5)
    assert (np.sign(votes[:200]) == y).mean() > 0.9 and (np.sign(votes[200:]) == -y).mean() > 0.9


def test_bootstrap_interval_brackets_the_mean():
    eps, low, high = bootstrap_epsilon([0.1] * 50 + [0.9] * 10)
    assert low < eps < high and eps == pytest.approx((5 + 9) / 60)


def test_bootstrap_interval_is_the_quantiles_not_clamped_to_contain_the_mean():
    # Two items at p = 0.01: fewer than 2.5 % of bootstrap draws flip anything, so both quantiles
    # are 0 while ε̂ = 0.01. The interval says so instead of being widened to [0, 0.01].
    eps, low, high = bootstrap_epsilon([0.01, 0.01])
    assert eps == pytest.approx(0.01) and (low, high) == (0.0, 0.0)


def test_knn_vote_is_a_separate_signal_not_a_dawid_skene_worker():
    aggregated = {i: 1 if i < 10 else -1 for i in range(20)}
    labels = [(i, w, d) for i, d in aggregated.items() for w in ("a", "b")]
    features = {i: np.array([d, 0.1 * i]) for i, d in aggregated.items()}
    est = estimate(labels, aggregated, features=features, k=3)
    assert set(est.reliability) == {"a", "b"}  # only the labellers are Dawid–Skene workers
    assert all("knn_disagreement" in est.signals[i] for i in range(20))


def test_estimate_without_features_uses_people_and_judges():
    labels = [(i, w, 1) for i in range(30) for w in ("a", "b", "c")] + [(i, "j", 1) for i in range(30)]
    labels += [(i, "a", -1) for i in range(30, 40)] + [(i, w, 1) for i in range(30, 40) for w in ("b", "c", "j")]
    aggregated = dict.fromkeys(range(30), 1) | dict.fromkeys(range(30, 40), -1)  # the last ten are mislabelled
    est = estimate(labels, aggregated, judges={"j"})
    assert min(est.p_wrong[i] for i in range(30, 40)) > max(est.p_wrong[i] for i in range(30))
    assert est.signals[35]["judge_disagreement"] == 1.0


@pytest.mark.django_db
def test_noise_task_stores_per_item_and_per_run(project):
    people = [cd.person(project) for _ in range(3)]
    jury = cd.judge(project)
    for i in range(12):
        item = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"What is {i}+{i}?"),
            text_a=f"It is {2 * i}.",
            text_b="No idea.",
        )
        for who in people:
            cd.label(item, who, preference=2 if (i == 0 and who is people[0]) else -2)  # one dissent
        cd.label(item, jury, preference=-1)
    for i in range(4):
        cd.label(factories.item(project, kind="binary"), people[0], thumbs="up" if i % 2 else "down")
    run = start_noise_run(project, use_embeddings=True, k=3)
    # eager Celery runs the task on commit; the test's transaction never commits, so run it here
    estimate_noise.apply(args=[run.pk])
    run = TaskRun.objects.get(pk=run.pk)
    assert run.state == "succeeded", run.error
    noise_run = NoiseRun.objects.get(project=project)
    assert (
        run.metrics["noise_run"] == noise_run.pk
        and 0 <= noise_run.epsilon_low <= noise_run.epsilon <= noise_run.epsilon_high <= 1
    )
    assert ItemNoise.objects.filter(item__project=project).count() == 16
    stored = ItemNoise.objects.filter(item__project=project, label__kind="pairwise").order_by("item_id")
    assert all(n.label["direction"] == -1 and "knn_disagreement" in n.signals for n in stored)
    assert stored[0].p_wrong > stored[1].p_wrong  # the item with a dissenting person is less certain
    # re-running the same task run replaces its result instead of adding another
    estimate_noise.apply(args=[run.pk])
    assert NoiseRun.objects.filter(project=project).count() == 1


def _single_labelled(project, n=40, flip_every=5):
    """Pairs labelled once each, by one of two people taking turns; every fifth label flipped."""
    people = [cd.person(project) for _ in range(2)]
    for i in range(n):
        item = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"Question {i}?"),
            text_a=f"Good answer {i}.",
            text_b=f"Bad answer {i}.",
        )
        cd.label(item, people[i % 2], preference=2 if i % flip_every == 0 else -2)
    return people


@pytest.mark.django_db
def test_single_labelled_items_withhold_epsilon_and_robust_dpo_is_refused(project, manager_user, client):
    from curation.noise import run_noise
    from curation.snapshots import freeze_snapshot, manifest
    from workers import finetune
    from workers.models import ModelSpec

    _single_labelled(project)
    noise_run = run_noise(project, use_embeddings=False)
    assert noise_run.epsilon is None and noise_run.epsilon_low is None and noise_run.epsilon_high is None
    assert "0 of 40 items have labels from two or more labellers" in noise_run.withheld
    assert noise_run.details["per_kind"]["pairwise"]["coverage"]["enough"] is False
    assert ItemNoise.objects.filter(item__project=project).count() == 40  # items are still scored

    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()  # the dashboard's cached figures
    assert "No flip rate ε." in html and "too few independent signals" in html and "ε = " not in html

    snap = freeze_snapshot(project)
    assert snap.epsilon is None and manifest(snap)["label_smoothing"] is None
    assert "too few independent signals" in snap.noise_summary["withheld"]
    assert (
        "No flip rate ε for robust DPO"
        in client.get(reverse("curation:snapshot", args=[project.pk, snap.pk])).content.decode()
    )

    spec = ModelSpec.objects.create(name="never-loaded", path_or_id="/nonexistent", dtype="float32", max_length=128)
    with pytest.raises(finetune.ConfigError, match="too few independent signals"):
        finetune.create_finetune(snap, spec, "rdpo")
    resp = client.post(
        reverse("workers:start_finetune", args=[project.pk]),
        {
            "snapshot": snap.pk,
            "model_spec": spec.pk,
            "method": "rdpo",
            "noise_weighting": "none",
            "noise_threshold": 0.5,
            "config": "",
            "lora": "",
        },
    )
    assert resp.status_code == 400 and "too few independent signals" in resp.content.decode()
    assert not TaskRun.objects.filter(kind="finetune").exists()


@pytest.mark.django_db
def test_a_second_labeller_on_most_items_gives_epsilon(project):
    from curation.noise import run_noise

    _single_labelled(project)
    third = cd.person(project)
    for item in project.items.order_by("id")[:30]:
        cd.label(item, third, preference=-2)
    noise_run = run_noise(project, use_embeddings=False)
    assert noise_run.epsilon is not None and noise_run.withheld == ""
    # The six flipped items among those 30 are now 1–1 ties (no aggregated label, no ε term).
    coverage = noise_run.details["per_kind"]["pairwise"]["coverage"]
    assert (coverage["items"], coverage["multi_labelled"]) == (34, 24)


@pytest.mark.django_db
def test_noise_on_an_empty_project_says_not_enough_labels(project, manager_user, client):
    from curation.noise import run_noise

    noise_run = run_noise(project, use_embeddings=False)
    assert noise_run.epsilon is None and noise_run.item_count == 0
    assert noise_run.withheld.startswith("not enough labels")
    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()  # the dashboard's cached figures
    assert "not enough labels" in html and "0.000" not in html


@pytest.mark.django_db
def test_dashboard_and_noise_run_report_the_same_dawid_skene_fit(project):
    from curation.noise import run_noise
    from curation.quality import annotator_quality

    people = [cd.person(project) for _ in range(3)]
    jury = cd.judge(project)
    for i in range(16):
        item = factories.item(
            project, prompt_obj=factories.prompt(project, text=f"Sum {i}?"), text_a=f"{i}", text_b="?"
        )
        for n, who in enumerate(people):
            cd.label(item, who, preference=2 if (n == 2 and i % 3 == 0) else -2)  # the third person errs often
        cd.label(item, jury, preference=-1 if i % 4 else 1)
    # Embeddings on: the kNN vote must not enter the fit the dashboard shows.
    noise_run = run_noise(project, use_embeddings=True, k=3)
    from_noise = noise_run.details["per_kind"]["pairwise"]["reliability"]
    from_dashboard = {str(q["annotator_id"]): q["ds"]["pairwise"]["accuracy"] for q in annotator_quality(project)}
    assert set(from_noise) == set(from_dashboard) and len(from_noise) == 4
    for worker, accuracy in from_dashboard.items():
        assert from_noise[worker] == pytest.approx(accuracy, abs=1e-9)


def test_glad_posteriors_depend_on_item_difficulty_where_dawid_skene_cannot():
    from bench.noise import synthetic_difficulty

    labels, aggregated, flipped = synthetic_difficulty(items=200, seed=1)
    ds = estimate(labels, aggregated, n_boot=200, aggregator="dawid-skene")
    glad = estimate(labels, aggregated, n_boot=200, aggregator="glad")
    items = sorted(set(ds.p_wrong) & set(glad.p_wrong))
    diff = np.abs(np.array([ds.p_wrong[i] - glad.p_wrong[i] for i in items]))
    assert len(items) == len(aggregated) and diff.mean() > 0.02  # not the same model under another name
    assert all("glad_beta" in glad.signals[i] for i in items) and "glad_beta" not in ds.signals[items[0]]
    # Items with the same vote pattern differ under GLAD only through the item's estimated difficulty.
    assert len({round(glad.signals[i]["glad_beta"], 6) for i in items}) > 10
    with pytest.raises(ValueError, match="unknown aggregator"):
        estimate(labels, aggregated, aggregator="mace")


@pytest.mark.django_db
def test_noise_run_records_the_chosen_aggregator(project, manager_user, client):
    from curation.noise import run_noise

    people = [cd.person(project) for _ in range(3)]
    for i in range(12):
        item = factories.item(project, prompt_obj=factories.prompt(project, text=f"Q {i}?"), text_a=f"{i}", text_b="?")
        for n, who in enumerate(people):
            cd.label(item, who, preference=2 if (n == 2 and i % 3 == 0) else -2)
    glad = run_noise(project, use_embeddings=False, aggregator="glad")
    assert glad.method.startswith("glad(") and glad.details["aggregator"] == "glad" and glad.epsilon is not None
    ds = run_noise(project, use_embeddings=False)
    assert ds.method.startswith("dawid-skene(") and ds.details["aggregator"] == "dawid-skene"
    before = NoiseRun.objects.count()
    with pytest.raises(ValueError, match="unknown aggregator"):
        run_noise(project, aggregator="mace")
    assert NoiseRun.objects.count() == before

    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()
    assert 'name="aggregator"' in html and 'value="glad"' in html
    client.post(reverse("curation:run_noise", args=[project.pk]), {"aggregator": "glad"})
    assert TaskRun.objects.filter(kind="noise").first().params["aggregator"] == "glad"
    runs_before = TaskRun.objects.filter(kind="noise").count()
    client.post(reverse("curation:run_noise", args=[project.pk]), {"aggregator": "mace"})
    assert TaskRun.objects.filter(kind="noise").count() == runs_before
    with pytest.raises(ValueError, match="unknown aggregator"):
        start_noise_run(project, aggregator="mace")
