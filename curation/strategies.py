"""Routing strategies on arrays, shared by the routing service, its measured curves and the benches.

`fit_routers` learns the PPM (linear and quadratic) and the judge-error model from items with both
labels; `chooser` turns a strategy into "which k items go to people"; `measure_strategies` runs
the whole comparison on held-out splits: per seed the labelled items are split three ways —
router-fit / pool / held-out — the routers learn on the first, choose within the second, and a
proxy reward model trained on the pool's mix is scored on the third. Nothing a router chose, and
no router prediction, ever grades a router.
"""

from dataclasses import dataclass

import numpy as np

from curation import ppm as ppm_mod
from curation import routing_sim as sim
from curation.mix_eval import BUDGETS, LabelledPairs, Reference, measured_curve, mix_accuracy, order_chooser, summarise

MIN_FIT_ITEMS = 20
HELDOUT_SHARE, FIT_SHARE = 0.25, 0.40  # the rest is the pool the strategies route
PPM_HELDOUT_SHARE = 0.3  # inside the router-fit part: where the PPM's candidate mixes are scored


@dataclass
class RoutingData:
    """Per-item arrays (aligned): BT inputs and labels, the reference, router features, count features."""

    pairs: LabelledPairs
    reference: np.ndarray  # ±1 gold, else human consensus; 0 none
    X: np.ndarray
    names: list
    B: np.ndarray
    count_names: list
    is_gold: np.ndarray

    def take(self, rows):
        return RoutingData(
            self.pairs.take(rows),
            self.reference[rows],
            self.X[rows],
            self.names,
            self.B[rows],
            self.count_names,
            self.is_gold[rows],
        )

    def __len__(self):
        return len(self.pairs)


@dataclass
class Routers:
    ppm_linear: object | None
    ppm_quadratic: object | None
    judge_error: object | None
    notes: list


def fit_routers(data, seed=0, n_mixes=None, with_ppm=True):
    """PPM (linear + quadratic, from the same measured candidate mixes) and the judge-error model,
    both learned on `data` only."""
    notes = []
    ref = data.reference
    usable = np.flatnonzero(ref != 0)
    judge_error = None
    has_judge = usable[data.pairs.judge[usable] != 0]
    if len(has_judge) >= MIN_FIT_ITEMS:
        target = sim.judge_error_target(data.pairs.judge[has_judge], ref[has_judge])
        judge_error = sim.JudgeErrorModel(seed=seed).fit(data.X[has_judge], target, data.names)
    else:
        notes.append(
            f"judge-error model: {len(has_judge)} items with judge and reference labels (needs {MIN_FIT_ITEMS})"
        )
    lin = quad = None
    if with_ppm and len(usable) >= MIN_FIT_ITEMS:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(usable)
        gold_first = perm[np.argsort(~data.is_gold[perm], kind="stable")]  # gold is the best reference: held out first
        n_held = max(5, int(round(PPM_HELDOUT_SHARE * len(perm))))
        held, train = gold_first[:n_held], gold_first[n_held:]
        heldout = Reference(data.pairs.ids[held], data.pairs.delta[held], ref[held])
        pool = data.pairs.take(train)
        counts, acc = ppm_mod.measure_mixes(
            pool, data.B[train], heldout, n_mixes or ppm_mod.default_mixes(data.B.shape[1]), rng
        )
        if len(acc) >= 3:
            lin = ppm_mod.fit_regressor(counts, acc, data.count_names, "linear")
            quad = ppm_mod.fit_regressor(counts, acc, data.count_names, "quadratic")
            lin.measured = quad.measured = [round(float(a), 4) for a in acc[:50]]
    elif with_ppm:
        notes.append(f"PPM: {len(usable)} items with a reference label (needs {MIN_FIT_ITEMS})")
    return Routers(lin, quad, judge_error, notes)


def scores(strategy, routers, data, seed=0):
    """Ranking scores over `data` (higher = to people first), or None where the router is missing."""
    if strategy == "ppm":
        return None if routers.ppm_linear is None else routers.ppm_linear.gains(data.B)
    if strategy == "ppm_quadratic":
        return None if routers.ppm_quadratic is None else routers.ppm_quadratic.gains(data.B)
    if strategy == "judge_error":
        return None if routers.judge_error is None else routers.judge_error.predict(data.X)
    return sim.baseline_scores(strategy, data.X, data.names, seed)


def chooser(strategy, routers, data, seed=0):
    """k → indices into `data` routed to people; None where the strategy has no fitted router."""
    if strategy == "ppm_simulated":
        if routers.ppm_linear is None:
            return None
        return lambda k: ppm_mod.simulated_selection(routers.ppm_linear, data.B, k, np.random.default_rng([seed, k]))
    s = scores(strategy, routers, data, seed)
    if s is None:
        return None
    _, order = sim.select(s, len(s), seed)
    return order_chooser(order)


def split(n, rng, is_gold):
    """(fit, pool, held-out) row indices; gold goes to held-out first (it is the best reference)."""
    perm = rng.permutation(n)
    perm = perm[np.argsort(~is_gold[perm], kind="stable")]
    n_held = max(1, int(round(HELDOUT_SHARE * n)))
    n_fit = int(round(FIT_SHARE * n))
    return perm[n_held : n_held + n_fit], perm[n_held + n_fit :], perm[:n_held]


def measure_strategies(data, strategies=sim.STRATEGIES, seeds=5, budgets=BUDGETS, n_mixes=None, splits=None):
    """Measured budget curves (CurveSummary) for every strategy plus all-human and all-judge.

    `data` must hold only items with a reference label (calibration slice + gold). `splits`
    (optional): a list of (fit, pool, held-out) row triples instead of random ones."""
    usable = np.flatnonzero(data.reference != 0)
    data = data.take(usable)
    per_seed, all_h, all_j, pool_sizes, held_sizes = [], [], [], [], []
    notes: dict[str, None] = {}  # ordered, each once
    for seed in range(seeds):
        fit, pool_rows, held = (
            splits[seed] if splits else split(len(data), np.random.default_rng(1000 + seed), data.is_gold)
        )
        fit_data, pool_data = data.take(fit), data.take(pool_rows)
        heldout = Reference(data.pairs.ids[held], data.pairs.delta[held], data.reference[held])
        routers = fit_routers(
            fit_data, seed=seed, n_mixes=n_mixes, with_ppm=any(s in sim.PPM_STRATEGIES for s in strategies)
        )
        for note in routers.notes:  # the same reason in most splits: keep each once, in order
            notes.setdefault(f"in a split's router-fit part ({len(fit_data)} items): {note}", None)
        pool = pool_data.pairs
        n_pool = len(pool)
        all_h.append(mix_accuracy(pool, np.ones(n_pool, bool), heldout))
        all_j.append(mix_accuracy(pool, np.zeros(n_pool, bool), heldout))
        curves: dict[str, list[float | None]] = {}
        for s in strategies:
            choose = chooser(s, routers, pool_data, seed)
            if choose is None:
                curves[s] = [None] * len(budgets)
                continue
            inner = [b for b in budgets if 0 < b < 1]
            measured = dict(measured_curve(pool, choose, heldout, inner))
            curves[s] = [all_j[-1] if b == 0 else all_h[-1] if b == 1 else measured[b] for b in budgets]
        per_seed.append(curves)
        pool_sizes.append(n_pool)
        held_sizes.append(len(heldout))
    reference = (
        "gold"
        if data.is_gold.all()
        else ("gold, else human consensus" if data.is_gold.any() else "human labels (consensus where several)")
    )
    summary = summarise(
        per_seed,
        all_h,
        all_j,
        budgets,
        float(np.mean(pool_sizes)) if pool_sizes else 0.0,
        float(np.mean(held_sizes)) if held_sizes else 0.0,
        reference,
    )
    summary.notes = list(notes)
    return summary
