"""The performance prediction model and measured curves, on arrays (no database):
- the regressor recovers known coefficients from candidate mixes;
- curves are measured on held-out items only: a held-out item inside the training mix is refused,
  and a curve built from a router's own predictions fails the no-gain check that measurements pass;
- with judge errors tied to features the PPM beats random; with errors independent of every
  feature it claims no gain beyond noise."""

import sys
from pathlib import Path

import numpy as np
import pytest

from curation import ppm, routing_sim, strategies
from curation.mix_eval import LabelledPairs, LeakError, Reference, measured_curve, mix_accuracy, order_chooser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "data"))
from make_routing_synthetic import generate  # noqa: E402

from bench import routing as bench  # noqa: E402


def test_ppm_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    n, F = 400, 6
    B = rng.random((n, F)) < 0.3
    true = np.array([0.004, -0.002, 0.0, 0.001, 0.003, -0.001])
    masks = ppm.sample_mixes(B, 80, rng)
    counts = np.array([B[m].sum(0) for m in masks], float)
    accuracy = 0.6 + counts @ true + rng.normal(0, 0.001, len(masks))
    names = [f"f{j}" for j in range(F)]
    fit = ppm.fit_regressor(counts, accuracy, names, "linear")
    assert np.allclose(fit.coef, true, atol=3e-4) and fit.intercept == pytest.approx(0.6, abs=0.01)
    # an item's gain is the sum of the coefficients over its features
    assert np.allclose(fit.gains(B), B @ fit.coef)
    assert np.corrcoef(fit.gains(B), B @ true)[0, 1] > 0.99
    quad = ppm.fit_regressor(counts, accuracy, names, "quadratic", alpha=1e-3)
    assert np.corrcoef(quad.gains(B), B @ true)[0, 1] > 0.9
    # the paper's simulated selection keeps the best predicted of its candidates
    chosen = ppm.simulated_selection(fit, B, 50, np.random.default_rng(1), candidates=30)
    assert len(chosen) == 50 and B[chosen].sum(0) @ true > B[rng.permutation(n)[:50]].sum(0) @ true


def test_knapsack_mixes_have_the_budget_and_cluster_by_feature():
    rng = np.random.default_rng(0)
    B = np.zeros((100, 4), bool)
    B[np.arange(100), np.arange(100) % 4] = True
    for k in (1, 10, 60, 100):
        assert ppm.knapsack_mix(B, k, rng).sum() == k
    counts = ppm.knapsack_mix(B, 20, rng)
    assert B[counts].sum(0).max() >= 20 // 4 * 2  # one feature's items first, not a uniform sample


def test_count_features_bin_like_the_paper():
    numeric = {
        "len_prompt": np.array([1, 2, 3, 4, 5, 6.0]),
        "len_a": np.array([10, 1, 5, 5, 8, np.nan]),
        "len_b": np.array([1, 10, 5, 6, 2, 3.0]),
        "rouge_l": np.array([0.0, 0.2, 0.5, 0.7, 1.0, np.nan]),
        "bleu": np.zeros(6),
        "sim_ab": np.ones(6),
    }
    B, names = ppm.count_features(numeric, {"domain": np.array(["math"] * 3 + ["code"] * 3, dtype=object)}, 6)
    col = {name: B[:, j] for j, name in enumerate(names)}
    assert col["rouge_l∈(0.00,0.33]"].tolist() == [True, True, False, False, False, False]
    assert col["rouge_l∈(0.67,1.00]"].tolist() == [False, False, False, True, True, False]  # NaN: no bin
    top = col["prompt_len∈(0.67,1.00]"].tolist()  # lengths as percentile ranks
    assert top[-2:] == [True, True] and top[:3] == [False] * 3 and col["domain=math"].sum() == 3
    assert B[:, [n.startswith("len_shorter") for n in names]].sum() == 5  # len_a missing on the last item


def _pairs(n, dim=8, seed=0, ids_from=0):
    rng = np.random.default_rng(seed)
    delta = rng.normal(size=(n, dim))
    truth = np.sign(delta @ np.ones(dim)).astype(int)
    return LabelledPairs(np.arange(ids_from, ids_from + n), delta, truth, -truth), truth


def test_curves_refuse_held_out_items_in_the_training_mix():
    pool, _ = _pairs(100)
    held_pairs, held_truth = _pairs(50, seed=1, ids_from=100)
    heldout = Reference(held_pairs.ids, held_pairs.delta, held_truth)
    assert (
        mix_accuracy(pool, np.ones(100, bool), heldout) > 0.9 > 0.1 > mix_accuracy(pool, np.zeros(100, bool), heldout)
    )
    leaky = Reference(
        np.concatenate([held_pairs.ids, pool.ids[:1]]),
        np.vstack([held_pairs.delta, pool.delta[:1]]),
        np.concatenate([held_truth, pool.human[:1]]),
    )
    with pytest.raises(LeakError):
        measured_curve(pool, order_chooser(np.arange(100)), leaky)


def test_a_curve_from_the_routers_own_predictions_fails_where_the_measured_curve_passes():
    """Judges err independently of every feature: no router can know where. The judge-error model's
    predicted curve still claims a gain over random (it scores every strategy with its own P(wrong));
    the measured curve shows none. A curve must be the measured one."""
    data, _ = bench.prepare(generate(700, seed=3, independent=True))
    summary = strategies.measure_strategies(data, strategies=["judge_error", "random"], seeds=3)
    gain, noise = bench.gain_over_random(summary, "judge_error")
    assert abs(gain) <= max(0.02, 3 * noise), (gain, noise)  # measured: no gain claimed
    fit, pool, _ = strategies.split(len(data), np.random.default_rng(0), data.is_gold)
    routers = strategies.fit_routers(data.take(fit), with_ppm=False)
    X = data.X[pool]
    p_wrong = routers.judge_error.predict(X)
    predicted = {
        s: dict(
            routing_sim.predicted_quality_curve(
                np.argsort(-strategies.scores(s, routers, data.take(pool))), p_wrong, 0.8
            )
        )
        for s in ("judge_error", "random")
    }
    predicted_gain = np.mean([predicted["judge_error"][b] - predicted["random"][b] for b in (0.1, 0.2, 0.3, 0.4, 0.5)])
    # the prediction claims a gain of several points that the measurement does not show
    assert predicted_gain > 0.03 and predicted_gain > gain + 0.025, (predicted_gain, gain)


def test_ppm_beats_random_when_judge_errors_follow_features_and_claims_nothing_when_they_do_not():
    structured, _ = bench.prepare(generate(1000, seed=0))
    summary = strategies.measure_strategies(structured, strategies=["ppm", "random"], seeds=3, n_mixes=40)
    gain, noise = bench.gain_over_random(summary, "ppm")
    assert gain > max(0.02, 1.5 * noise), (gain, noise)
    independent, _ = bench.prepare(generate(1000, seed=0, independent=True))
    summary = strategies.measure_strategies(independent, strategies=["ppm", "random"], seeds=3, n_mixes=40)
    gain, noise = bench.gain_over_random(summary, "ppm")
    assert abs(gain) <= max(0.02, 3 * noise), (gain, noise)
