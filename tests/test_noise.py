import numpy as np
import pytest

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
    assert r["epsilon_ci"][0] <= r["epsilon_hat"] <= r["epsilon_ci"][1]


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


def test_estimate_without_features_uses_people_and_judges():
    labels = [(i, w, 1) for i in range(30) for w in ("a", "b", "c")] + [(i, "j", 1) for i in range(30)]
    labels += [(i, "a", -1) for i in range(30, 40)] + [(i, w, 1) for i in range(30, 40) for w in ("b", "c", "j")]
    aggregated = {i: 1 for i in range(30)} | {i: -1 for i in range(30, 40)}  # the last ten are mislabelled
    est = estimate(labels, aggregated, judges={"j"})
    assert min(est.p_wrong[i] for i in range(30, 40)) > max(est.p_wrong[i] for i in range(30))
    assert est.signals[35]["judge_disagreement"] == 1.0


@pytest.mark.django_db
def test_noise_task_stores_per_item_and_per_run(project):
    people = [cd.person(project) for _ in range(3)]
    jury = cd.judge(project)
    for i in range(12):
        item = factories.item(project, prompt_obj=factories.prompt(project, text=f"What is {i}+{i}?"),
                              text_a=f"It is {2 * i}.", text_b="No idea.")
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
    assert run.metrics["noise_run"] == noise_run.pk and 0 <= noise_run.epsilon_low <= noise_run.epsilon <= noise_run.epsilon_high <= 1
    assert ItemNoise.objects.filter(item__project=project).count() == 16
    stored = ItemNoise.objects.filter(item__project=project, label__kind="pairwise").order_by("item_id")
    assert all(n.label["direction"] == -1 and "knn_disagreement" in n.signals for n in stored)
    assert stored[0].p_wrong > stored[1].p_wrong  # the item with a dissenting person is less certain
    # re-running the same task run replaces its result instead of adding another
    estimate_noise.apply(args=[run.pk])
    assert NoiseRun.objects.filter(project=project).count() == 1
