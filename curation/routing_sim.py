"""The judge-error router and the simple baselines as plain numpy / scikit-learn.

The judge-error model is learning to defer, not the performance prediction model of Hybrid
Preferences (that is `curation.ppm`): from items with both human and judge labels (the calibration
slice and gold, never items a router chose) it learns the probability that the judges' label is
wrong w.r.t. the reference, from the item's features; routing by it defers the items with the
highest predicted judge error to people. Baselines: random, judge-uncertainty-first,
jury-disagreement-first.
"""

import math
import warnings

import numpy as np

from curation.features import TAG_DIMENSIONS

NUMERIC = [
    "len_prompt",
    "len_a",
    "len_b",
    "len_ratio",
    "len_log_ratio_ab",
    "rouge_l",
    "bleu",
    "sim_ab",
    "sim_prompt_a",
    "sim_prompt_b",
    "sim_prompt_gap",
    "multi_turn",
    "judge_count",
    "judge_unparsed",
    "judge_confidence",
    "judge_pref_abs",
    "jury_std",
    "jury_disagreement",
    "swap_inconsistency",
    "judge_own_family",
]
LOG_SCALED = {"len_prompt", "len_a", "len_b", "len_ratio"}
KINDS = ["pairwise", "binary", "edit"]
PPM_STRATEGIES = ["ppm", "ppm_quadratic", "ppm_simulated"]
STRATEGIES = [*PPM_STRATEGIES, "judge_error", "random", "uncertainty", "disagreement"]
STRATEGY_LABELS = {
    "ppm": "PPM gain (linear)",
    "ppm_quadratic": "PPM gain (quadratic)",
    "ppm_simulated": "PPM simulated selection",
    "judge_error": "judge-error (learning to defer)",
    "random": "random",
    "uncertainty": "judge uncertainty first",
    "disagreement": "jury disagreement first",
}
BUDGETS = [round(b / 10, 1) for b in range(11)]


def design(values, tags, kinds=None):
    """Feature matrix (n × d, NaN for missing) and column names from per-item dicts."""
    numeric = {name: np.array([v.get(name) for v in values], dtype=float) for name in NUMERIC}  # None → NaN
    categorical = {d: np.array([t.get(d, "") for t in tags], dtype=object) for d in TAG_DIMENSIONS}
    return design_columns(numeric, categorical, kinds, n=len(values))


def design_columns(numeric, categorical, kinds=None, n=0):
    """Feature matrix from columns: numeric {name: float array}, categorical {dimension: array}."""
    cols, names = [], []
    for name in NUMERIC:
        col = np.asarray(numeric.get(name, np.full(n, np.nan)), dtype=float)
        if name in LOG_SCALED:
            col = np.log1p(np.clip(col, 0, None))
        cols.append(col)
        names.append(name)
    for dimension, categories in TAG_DIMENSIONS.items():
        observed = np.asarray(categorical.get(dimension, np.full(n, "", dtype=object)), dtype=object)
        for category in categories:
            cols.append((observed == category).astype(float))
            names.append(f"{dimension}={category}")
    if kinds is not None:
        kinds = np.asarray(kinds, dtype=object)
        for kind in KINDS:
            cols.append((kinds == kind).astype(float))
            names.append(f"kind={kind}")
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    return X, names


class JudgeErrorModel:
    """Learning to defer: P(the judges' label is wrong) per item. Logistic regression on standardised, median-imputed features, missing-value indicators and
    quantile buckets of the numeric features (Hybrid Preferences reasons in feature buckets: a
    judge's error rate jumps past a length ratio, it does not grow linearly with it).
    Linear on purpose: a score splits exactly into per-feature contributions, which the UI shows
    as the reason for a route."""

    def __init__(self, C=0.5, seed=0, buckets=5):
        self.C, self.seed, self.buckets = C, seed, buckets

    def transform(self, X):
        """The model's input for X; compute once and pass as `Z=` to predict and explain."""
        return self._transform(np.asarray(X, float))

    def _transform(self, X):
        filled = np.where(np.isnan(X), self.median_, X)
        parts = [(filled - self.mean_) / self.scale_, np.isnan(X[:, self.missing_cols_]).astype(float)]
        for j, edges in self.edges_:
            b = np.searchsorted(edges, X[:, j], side="right")
            onehot = (b[:, None] == np.arange(len(edges) + 1)[None, :]).astype(float)
            onehot[np.isnan(X[:, j])] = 0.0
            parts.append(onehot)
        return np.hstack(parts)

    def fit(self, X, y, names):
        X, y = np.asarray(X, float), np.asarray(y, float)
        with warnings.catch_warnings():  # all-missing columns (e.g. no judge yet) are expected
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(X, axis=0)
        self.median_ = np.where(np.isnan(median), 0.0, median)
        filled = np.where(np.isnan(X), self.median_, X)
        self.mean_, scale = filled.mean(0), filled.std(0)
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        self.missing_cols_ = np.where(np.isnan(X).any(0) & ~np.isnan(X).all(0))[0]
        self.base_names_ = list(names)
        self.names_ = list(names) + [f"{names[j]} missing" for j in self.missing_cols_]
        owner = list(range(len(names))) + list(self.missing_cols_)
        self.edges_ = []
        for j, name in enumerate(names):
            col = X[:, j][~np.isnan(X[:, j])]
            if name in NUMERIC and len(np.unique(col)) > self.buckets:
                edges = np.unique(np.quantile(col, np.linspace(0, 1, self.buckets + 1)[1:-1]))
                self.edges_.append((j, edges))
                bounds = [-np.inf, *edges, np.inf]
                self.names_ += [f"{name} in [{bounds[k]:.3g}, {bounds[k + 1]:.3g})" for k in range(len(edges) + 1)]
                owner += [j] * (len(edges) + 1)
        # Contributions of a feature's value, missing flag and bucket add up under its own name.
        self.owner_ = np.zeros((len(owner), len(names)))
        self.owner_[np.arange(len(owner)), owner] = 1.0
        self.base_rate_ = float(y.mean()) if len(y) else 0.5
        self.constant_ = len(set(y.tolist())) < 2
        if not self.constant_:
            Z = self._transform(X)
            self.center_ = Z.mean(0)
            # Soft targets (e.g. 0.5 for a jury that abstained) enter as a weighted positive and negative row.
            Zs = np.vstack([Z, Z])
            ys = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
            ws = np.concatenate([y, 1 - y])
            keep = ws > 0
            from sklearn.linear_model import (
                LogisticRegression,
            )  # lazily: web workers that only render pages never pay ~150 MB for it

            self.model_ = LogisticRegression(C=self.C, max_iter=3000).fit(Zs[keep], ys[keep], sample_weight=ws[keep])
        return self

    def predict(self, X=None, Z=None):
        n = len(X) if Z is None else len(Z)
        if self.constant_:
            return np.full(n, self.base_rate_)
        return self.model_.predict_proba(self.transform(X) if Z is None else Z)[:, 1]

    def contributions(self, X=None, Z=None):
        """Per-feature contribution to the log-odds (relative to the average training item), n × features."""
        Z = self.transform(X) if Z is None else Z
        if self.constant_:
            return np.zeros((len(Z), len(self.base_names_)))
        return ((Z - self.center_) * self.model_.coef_[0]) @ self.owner_

    def explain(self, X=None, top=3, Z=None):
        """(indices into the feature names, contributions), each n × top: what pushes an item to humans."""
        contrib = self.contributions(X, Z)
        k = min(top, contrib.shape[1])
        if k == 0 or self.constant_:
            return np.zeros((len(contrib), 0), int), np.zeros((len(contrib), 0))
        idx = np.argpartition(-contrib, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(contrib, idx, axis=1)
        order = np.argsort(-picked, axis=1)
        return np.take_along_axis(idx, order, 1), np.take_along_axis(picked, order, 1)

    def summary(self):
        if self.constant_:
            return {"kind": "constant", "base_rate": self.base_rate_}
        coef = self.model_.coef_[0]
        ranked = np.argsort(-np.abs(coef))[:15]
        return {
            "kind": "logistic_regression",
            "C": self.C,
            "intercept": float(self.model_.intercept_[0]),
            "base_rate": self.base_rate_,
            "top_weights": [[self.names_[j], round(float(coef[j]), 4)] for j in ranked],
        }


def judge_error_target(jury, reference):
    """Value of a human label given the jury's direction and the reference direction (±1): 1 when the
    jury points the wrong way (a flipped training label), 0.5 when it abstained or tied (a missing
    label), 0 when it agrees."""
    jury, reference = np.asarray(jury), np.asarray(reference)
    return np.where(jury == 0, 0.5, (jury != reference).astype(float))


def baseline_scores(strategy, X, names, seed=0):
    """Scores for the simple strategies: higher = send to humans first."""
    col = {n: i for i, n in enumerate(names)}
    n = len(X)
    rng = np.random.default_rng(seed)
    jitter = rng.random(n) * 1e-6  # deterministic tie-breaking
    if strategy == "random":
        return rng.random(n)

    def get(name, default):
        return np.nan_to_num(X[:, col[name]], nan=default) if name in col else np.full(n, default)

    if strategy == "uncertainty":
        return (1 - get("judge_confidence", 0.0)) + get("judge_unparsed", 1.0) + jitter
    if strategy == "disagreement":
        return (
            get("jury_disagreement", 1.0)
            + get("jury_std", 3.0) / 6
            + get("swap_inconsistency", 1.0)
            + get("judge_unparsed", 1.0)
            + jitter
        )
    raise ValueError(f"unknown strategy {strategy!r}")


def judge_wrong_from_disagreement(p_disagree, human_accuracy):
    """P(judge wrong) from P(judge disagrees with a human of accuracy h): d = w·h + (1−w)(1−h)."""
    h = float(human_accuracy)
    if h <= 0.5 + 1e-6:
        return np.clip(p_disagree, 0, 1)
    return np.clip((np.asarray(p_disagree) - (1 - h)) / (2 * h - 1), 0, 1)


def select(scores, k, seed=0):
    """Indices of the k highest scores (ties broken deterministically by a seeded shuffle)."""
    n = len(scores)
    k = max(0, min(int(k), n))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    order = perm[np.argsort(-np.asarray(scores)[perm], kind="stable")]
    return order[:k], order


def predicted_quality_curve(order, p_judge_wrong, human_accuracy, budgets=BUDGETS):
    """A PREDICTION, not a measurement: the label accuracy the judge-error model expects of the
    routed mix when the first `b·n` items of `order` go to humans (accuracy h) and the rest keep the
    judges' label (accuracy 1 − p). Shown beside measured curves, labelled as a prediction; it
    favours the judge-error ranking by construction, so strategies are compared on
    `mix_eval.measured_curve` instead."""
    n = len(order)
    if n == 0:
        return [[b, None] for b in budgets]
    judge_acc = 1 - np.asarray(p_judge_wrong, float)[order]
    cum = np.concatenate([[0.0], np.cumsum(judge_acc)])
    total = cum[-1]
    out = []
    for b in budgets:
        k = int(round(b * n))
        out.append([b, round(float((k * human_accuracy + total - cum[k]) / n), 4)])
    return out


def human_accuracy_from_agreement(agreement):
    """Accuracy h of two independent, equally good annotators agreeing at rate a = h² + (1 − h)²."""
    if agreement is None or agreement <= 0.5:
        return None
    return (1 + math.sqrt(2 * agreement - 1)) / 2
