"""ε by prediction-powered inference on a random gold slice (curation.noise.flip_rate)."""

import numpy as np
import pytest
from django.urls import reverse

from curation.models import EpsilonMethod, NoiseRun
from curation.noise import MIN_GOLD_FOR_PPI, bootstrap_epsilon, estimate, flip_rate, ppi_epsilon, run_noise
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories

ACCURACIES = np.linspace(0.65, 0.95, 8)


def correlated_crowd(seed, items=300, gold_share=0.2):
    """Three of eight labellers per item; a third of the items are near coin flips for everyone
    (labeller of accuracy a is right with probability 0.5 + (a − 0.5)·ease), so errors on an item
    are correlated. Returns (who, votes ±1 relative to the truth, gold items, realised flip rate)."""
    rng = np.random.default_rng(seed)
    ease = np.where(rng.random(items) < 1 / 3, rng.uniform(0, 0.2, items), rng.uniform(0.6, 1.0, items))
    who = np.array([rng.choice(len(ACCURACIES), 3, replace=False) for _ in range(items)])
    right = rng.random(who.shape) < 0.5 + (ACCURACIES[who] - 0.5) * ease[:, None]
    votes = np.where(right, 1, -1)
    wrong = votes.sum(axis=1) < 0  # the majority of three is wrong
    gold = rng.choice(items, int(gold_share * items), replace=False)
    return who, votes, gold, float(wrong.mean())


def independence_posterior(who, votes):
    """P(majority wrong) under Dawid–Skene's model with the labellers' true accuracies (its E-step at
    the best possible fit): labels independent given the truth, every item equally hard."""
    log_odds = np.log(ACCURACIES / (1 - ACCURACIES))[who]  # evidence for the side each label takes
    majority = np.sign(votes.sum(axis=1))
    against = (log_odds * votes * majority[:, None]).sum(axis=1)  # evidence for the majority's side
    return 1 / (1 + np.exp(against))


def test_ppi_interval_covers_correlated_errors_where_the_posterior_mean_does_not():
    draws, ppi_covered, mean_covered = 120, 0, 0
    for seed in range(draws):
        who, votes, gold, truth = correlated_crowd(seed)
        p0 = independence_posterior(who, votes)
        majority_wrong = (votes.sum(axis=1) < 0).astype(int)
        flip = flip_rate(
            dict(enumerate(p0)), dict(enumerate(p0)), {int(i): majority_wrong[i] for i in gold}, n_boot=200
        )
        assert flip.method == EpsilonMethod.PPI and flip.ppi is not None and flip.ppi.gold == len(gold)
        ppi_covered += flip.low <= truth <= flip.high
        _, low, high = flip.posterior_mean
        mean_covered += low <= truth <= high
    ppi_rate, mean_rate = ppi_covered / draws, mean_covered / draws
    print(f"coverage over {draws} draws: PPI {ppi_rate:.2f}, posterior mean {mean_rate:.2f}")
    assert ppi_rate >= 0.85
    assert mean_rate <= 0.5 and ppi_rate - mean_rate >= 0.4


def test_ppi_formula_and_its_interval_is_neither_clipped_nor_widened():
    prior, gold_prior, gold_wrong = [0.0, 0.1, 0.0, 0.1], [0.0, 0.1], [0, 0]
    ppi = ppi_epsilon(prior, gold_prior, gold_wrong)
    rect = np.array(gold_wrong) - np.array(gold_prior)
    se = np.sqrt(np.var(prior, ddof=1) / 4 + np.var(rect, ddof=1) / 2)
    assert ppi.epsilon == pytest.approx(0.05 - 0.05)
    assert (ppi.low, ppi.high) == pytest.approx((-1.959964 * se, 1.959964 * se), rel=1e-5)
    assert ppi.low < 0  # as computed; only the display clips
    run = NoiseRun(epsilon=ppi.epsilon, epsilon_low=ppi.low, epsilon_high=ppi.high)
    shown = run.interval_shown
    assert shown is not None and shown[0] == 0.0 and shown[1] == pytest.approx(ppi.high)


def test_too_few_gold_items_fall_back_to_the_posterior_mean():
    p = {i: 0.1 * (i % 3) for i in range(200)}
    gold_wrong = dict.fromkeys(range(MIN_GOLD_FOR_PPI - 1), 0)
    flip = flip_rate(p, p, gold_wrong, n_boot=200)
    assert flip.method == EpsilonMethod.POSTERIOR_MEAN and flip.ppi is None
    assert (flip.epsilon, flip.low, flip.high) == bootstrap_epsilon(list(p.values()), n_boot=200)


def test_estimate_uses_a_fit_without_gold_answers_as_ppi_prediction():
    who, votes, gold, _ = correlated_crowd(0, items=300, gold_share=0.2)
    truth = np.random.default_rng(1).choice([-1, 1], len(votes))
    labels = [(i, int(w), int(truth[i] * v)) for i in range(len(votes)) for w, v in zip(who[i], votes[i])]
    aggregated = {i: int(truth[i] * np.sign(votes[i].sum())) for i in range(len(votes))}
    answers = {int(i): int(truth[i]) for i in gold}
    est = estimate(labels, aggregated, gold=answers, n_boot=200)
    assert est.epsilon_method == EpsilonMethod.PPI and est.flip is not None and est.flip.ppi is not None
    assert est.gold_wrong == {i: int(aggregated[i] != answers[i]) for i in answers}
    # per-item p_wrong is the gold-anchored fit; the prediction p0 never saw a gold answer
    assert all(est.p_wrong[i] == pytest.approx(est.gold_wrong[i], abs=1e-6) for i in answers)
    assert any(abs(est.prior[i] - est.gold_wrong[i]) > 0.01 for i in answers)
    assert est.flip.ppi.gold == len(answers) and est.flip.ppi.items == len(aggregated)
    # and it is blind to them: every gold answer flipped, the prediction is the same
    flipped = estimate(labels, aggregated, gold={i: -g for i, g in answers.items()}, n_boot=200)
    assert flipped.prior == pytest.approx(est.prior)
    assert flipped.flip is not None and flipped.flip.ppi is not None
    assert flipped.flip.ppi.prior_mean == pytest.approx(est.flip.ppi.prior_mean)


def _labelled_pairs(project, n=24, gold=0):
    """Pairs labelled by two people each (the second dissents on every fourth); the first `gold`
    items are gold, answered as the first person labels them."""
    people = [cd.person(project) for _ in range(2)]
    for i in range(n):
        item = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"Question {i}?"),
            text_a=f"Good answer {i}.",
            text_b=f"Bad answer {i}.",
            is_gold=i < gold,
            gold_answer={"preference": -2} if i < gold else None,
        )
        cd.label(item, people[0], preference=-2)
        cd.label(item, people[1], preference=2 if i % 4 == 0 else -2)
        if i % 4 == 0:  # a third label breaks the tie, wrongly on every eighth item
            cd.label(item, cd.person(project), preference=2 if i % 8 == 0 else -2)


@pytest.mark.django_db
def test_a_noise_run_with_enough_gold_reports_the_ppi_epsilon(project, manager_user, client):
    _labelled_pairs(project, n=MIN_GOLD_FOR_PPI + 10, gold=MIN_GOLD_FOR_PPI + 2)
    run = run_noise(project, use_embeddings=False)
    pairwise = run.details["per_kind"]["pairwise"]
    assert run.epsilon_method == EpsilonMethod.PPI and pairwise["epsilon_method"] == EpsilonMethod.PPI
    assert pairwise["ppi"]["gold"] == MIN_GOLD_FOR_PPI + 2 and pairwise["ppi"]["epsilon"] == run.epsilon
    assert (run.epsilon_low, run.epsilon_high) == (pairwise["ppi"]["low"], pairwise["ppi"]["high"])
    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()
    assert "prediction-powered (gold slice)" in html and "random sample of the items" in html
    snap = freeze_snapshot(project)  # its own ε is the mean p_wrong of its pairs; the page names the run's method
    assert snap.noise_summary["run"]["epsilon_method"] == EpsilonMethod.PPI
    page = client.get(reverse("curation:snapshot", args=[project.pk, snap.pk])).content.decode()
    assert f"the project's noise run {run.pk}" in page and "by prediction-powered (gold slice)" in page


@pytest.mark.django_db
def test_a_noise_run_without_gold_reports_the_posterior_mean(project, manager_user, client):
    _labelled_pairs(project, gold=0)
    run = run_noise(project, use_embeddings=False)
    pairwise = run.details["per_kind"]["pairwise"]
    assert run.epsilon is not None and run.epsilon_method == EpsilonMethod.POSTERIOR_MEAN
    assert pairwise["ppi"] is None and run.epsilon == pairwise["posterior_mean"][0]
    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()
    assert "posterior mean (bootstrap)" in html
