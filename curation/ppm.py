"""The performance prediction model (PPM) of Hybrid Preferences (Miranda et al. 2024), as in the
paper's code (allenai/hybrid-preferences: scripts/get_count_feats.py, train_regressor.py,
sample_best_subset.py):

1. Each item gets binary features: lexical features (lengths as percentile ranks, ROUGE-L, BLEU,
   response cosine similarity) cut into 3 equal bins on [0, 1], and its prompt tags (one-hot).
2. Candidate mixes are sampled with the paper's "knapsack": a random human budget 1..n, features in
   random order, each feature's items in random order, added until the budget is spent.
3. For each mix, a proxy reward model is trained on the mix's labels and its held-out accuracy is
   measured (`mix_eval`). A mix's input is its feature-count vector: how many human-routed items
   carry each feature.
4. A regressor — linear (the paper's `LinearRegression`) or quadratic (degree-2 polynomial
   features) — maps count vectors to measured accuracy.
5. Routing: an item's gain is the sum of the linear coefficients over its features (quadratic:
   predicted accuracy of the one-item mix minus the empty mix); the top-k gains go to people.
   Or the paper's simulated selection: sample candidate mixes of size k, keep the best predicted.

Where Tandem differs: the proxy reward model is a Bradley–Terry head on MiniLM embeddings trained
in a second on CPU (the paper fine-tunes Tulu-2 13B reward models and scores RewardBench); mixes are
drawn on the calibration slice, scored on its held-out part; the quadratic regressor is ridge-
regularised (its ~F²/2 columns outnumber the mixes a project can afford).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curation.features import TAG_DIMENSIONS
from curation.mix_eval import LabelledPairs, Reference, mix_accuracy

N_BINS = 3
RANKED = ["prompt_len", "len_shorter", "len_longer", "token_len_diff"]  # percentile rank, as the paper does
BOUNDED = ["rouge_l", "bleu", "sim_ab"]  # already on [0, 1]


def lexical_columns(numeric: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The paper's lexical features from Tandem's numeric features (arrays; NaN where missing)."""
    a = np.asarray(numeric.get("len_a"), float)
    b = np.asarray(numeric.get("len_b"), float)
    return {
        "prompt_len": np.asarray(numeric.get("len_prompt"), float),
        "len_shorter": np.minimum(a, b),
        "len_longer": np.maximum(a, b),
        "token_len_diff": np.abs(a - b),
        **{k: np.asarray(numeric.get(k), float) for k in BOUNDED},
    }


def _percentile_rank(col):
    out = np.full(len(col), np.nan)
    ok = ~np.isnan(col)
    if ok.any():
        values = col[ok]
        order = np.sort(values)
        # rank(pct=True) with average ties: share of values ≤ x, mid-point for ties
        out[ok] = (np.searchsorted(order, values, "left") + np.searchsorted(order, values, "right")) / (
            2 * len(values)
        ) + 0.5 / len(values)
    return out


def count_features(
    numeric: dict[str, np.ndarray], categorical: dict[str, np.ndarray], n: int, n_bins: int = N_BINS
) -> tuple[np.ndarray, list[str]]:
    """(B: n × F binary matrix, names). Lexical bins are (lo, hi] on [0, 1] (the first includes 0)."""
    lex = lexical_columns(
        {
            k: (np.full(n, np.nan) if numeric.get(k) is None else numeric[k])
            for k in ("len_prompt", "len_a", "len_b", *BOUNDED)
        }
    )
    edges = np.linspace(0, 1, n_bins + 1)
    cols, names = [], []
    for name, col in lex.items():
        col = _percentile_rank(col) if name in RANKED else np.clip(col, 0, 1)
        for i in range(n_bins):
            lo, hi = edges[i], edges[i + 1]
            inside = (col > lo) & (col <= hi) if i else (col >= lo) & (col <= hi)
            cols.append(inside & ~np.isnan(col))
            names.append(f"{name}∈({lo:.2f},{hi:.2f}]")
    for dimension, categories in TAG_DIMENSIONS.items():
        observed = np.asarray(categorical.get(dimension, np.full(n, "", dtype=object)), dtype=object)
        for category in categories:
            cols.append(observed == category)
            names.append(f"{dimension}={category}")
    B = np.column_stack(cols) if cols else np.zeros((n, 0), bool)
    return B.astype(bool), names


def knapsack_mix(B: np.ndarray, capacity: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's candidate mix: features in random order, each feature's items shuffled, taken
    until `capacity` items are routed to humans. Returns a boolean mask."""
    n, F = B.shape
    mask = np.zeros(n, bool)
    taken = 0
    for f in rng.permutation(F):
        members = np.flatnonzero(B[:, f])
        for i in rng.permutation(members):
            if taken >= capacity:
                return mask
            if not mask[i]:
                mask[i] = True
                taken += 1
    if taken < capacity:  # items with no feature at all fill the rest at random
        rest = rng.permutation(np.flatnonzero(~mask))[: capacity - taken]
        mask[rest] = True
    return mask


def sample_mixes(
    B: np.ndarray, n_mixes: int, rng: np.random.Generator, budgets: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Candidate mixes at random budgets 1..n (the paper's `random.sample(range(1, n + 1), ...)`)."""
    n = len(B)
    sizes = budgets if budgets is not None else (rng.integers(1, n + 1, size=n_mixes).tolist() if n else [])
    return [knapsack_mix(B, int(k), rng) for k in sizes]


@dataclass
class PPM:
    """A fitted regressor from feature counts to proxy-reward-model accuracy."""

    kind: str
    names: list[str]
    coef: np.ndarray
    intercept: float
    model: tuple[Any, Any] | None = None  # quadratic: (PolynomialFeatures, Ridge)
    fit_rmse: float | None = None
    mixes: int = 0
    measured: list = field(default_factory=list)

    def predict(self, counts: np.ndarray) -> np.ndarray:
        counts = np.atleast_2d(np.asarray(counts, float))
        if self.kind == "linear":
            return counts @ self.coef + self.intercept
        assert self.model is not None  # a quadratic fit keeps its model
        poly, reg = self.model
        return reg.predict(poly.transform(counts))

    def gains(self, B: np.ndarray) -> np.ndarray:
        """Per-item gain of a human label: Σ coef over the item's features (quadratic: f(item) − f(∅))."""
        B = np.asarray(B, float)
        if self.kind == "linear":
            return B @ self.coef
        return self.predict(B) - self.predict(np.zeros((1, B.shape[1])))[0]

    def summary(self, top: int = 12) -> dict[str, Any]:
        order = np.argsort(-np.abs(self.coef))[:top]
        return {
            "kind": f"ppm_{self.kind}",
            "mixes": self.mixes,
            "fit_rmse": None if self.fit_rmse is None else round(self.fit_rmse, 5),
            "intercept": round(float(self.intercept), 5),
            "top_weights": [[self.names[j], round(float(self.coef[j]), 6)] for j in order],
        }


def fit_regressor(
    counts: np.ndarray, accuracy: np.ndarray, names: list[str], kind: str = "linear", alpha: float = 1.0
) -> PPM:
    """Linear: ordinary least squares (the paper's LinearRegression). Quadratic: degree-2 polynomial
    features with ridge; `coef` then reports the linear terms only."""
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.preprocessing import PolynomialFeatures

    X, y = np.asarray(counts, float), np.asarray(accuracy, float)
    if kind == "linear":
        reg = LinearRegression().fit(X, y)
        ppm = PPM("linear", list(names), reg.coef_.astype(float), float(reg.intercept_))
    elif kind == "quadratic":
        poly = PolynomialFeatures(degree=2, include_bias=False).fit(X)
        reg = Ridge(alpha=alpha).fit(poly.transform(X), y)
        ppm = PPM("quadratic", list(names), reg.coef_[: X.shape[1]].astype(float), float(reg.intercept_), (poly, reg))
    else:
        raise ValueError(f"unknown regressor {kind!r}; linear or quadratic")
    ppm.fit_rmse = float(np.sqrt(np.mean((ppm.predict(X) - y) ** 2))) if len(y) else None
    ppm.mixes = len(y)
    return ppm


def measure_mixes(
    pool: LabelledPairs, B: np.ndarray, heldout: Reference, n_mixes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(counts m × F, measured accuracy m): the PPM's training data, from candidate mixes on `pool`."""
    masks = sample_mixes(B, n_mixes, rng)
    counts = np.array([B[m].sum(0) for m in masks], float).reshape(len(masks), B.shape[1])
    acc = np.array([mix_accuracy(pool, m, heldout) for m in masks], float)
    keep = ~np.isnan(acc)
    return counts[keep], acc[keep]


def default_mixes(n_features: int) -> int:
    return max(60, 2 * n_features + 20)


def fit_ppm(
    pool: LabelledPairs,
    B: np.ndarray,
    heldout: Reference,
    names: list[str],
    kind: str = "linear",
    n_mixes: int | None = None,
    seed: int = 0,
) -> PPM:
    """Sample mixes on `pool` (B: its count features), measure each on `heldout`, fit the regressor."""
    rng = np.random.default_rng(seed)
    counts, acc = measure_mixes(pool, B, heldout, n_mixes or default_mixes(B.shape[1]), rng)
    ppm = fit_regressor(counts, acc, names, kind)
    ppm.measured = [round(float(a), 4) for a in acc[:50]]
    return ppm


def simulated_selection(ppm: PPM, B: np.ndarray, k: int, rng: np.random.Generator, candidates: int = 50) -> np.ndarray:
    """The paper's `simulated` sampling: `candidates` knapsack mixes of size k; the best predicted wins.
    Returns indices routed to humans."""
    if k <= 0:
        return np.array([], int)
    masks = sample_mixes(B, candidates, rng, budgets=[k] * candidates)
    counts = np.array([B[m].sum(0) for m in masks], float)
    return np.flatnonzero(masks[int(np.argmax(ppm.predict(counts)))])
