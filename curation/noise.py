"""Label noise: for each pairwise/binary item, the posterior probability that its aggregated label
is wrong, and the dataset flip rate ε with a confidence interval (rDPO's `label_smoothing`).

Signals:
- Dawid–Skene (crowd-kit) over every person's, imported source's and LM judge's label, with gold
  answers as known truths: p_wrong = 1 − P(truth = aggregated label). This is the same fit, on
  the same label table (`quality.ds_table`) and gold, as the dashboard's per-annotator
  Dawid–Skene accuracy (`quality.annotator_quality`), so the two never disagree about an annotator.
- a k-nearest-neighbour vote over sentence embeddings (leave-one-out; for pairs on the difference
  vector e(B) − e(A), with the mirrored pair (−d, −y) counted too), kept as a separate per-item
  signal (`knn_disagreement`). It is not a Dawid–Skene worker: it votes from the aggregated labels
  themselves, so it is not independent of the labellers, which Dawid–Skene assumes. It stands in
  for p_wrong only on items Dawid–Skene cannot score.
- judge disagreement with the aggregated label, per item.

Aggregators (`AGGREGATORS`, chosen per noise run and recorded in its method):
- `dawid-skene`: crowd-kit's DawidSkene (one confusion matrix per labeller, every item equally hard),
  with gold answers as known truths during EM.
- `glad`: crowd-kit's GLAD (Whitehill et al. 2009): P(label correct) = σ(α_worker · β_item), so an
  item's difficulty (1/β) changes how much its labels are trusted. Faithful to the paper's model
  for binary labels (pairwise directions ±1); unlike DS here, crowd-kit's GLAD takes no known
  truths, so gold items are not used in the fit: their posteriors are set to the gold answer
  afterwards, which anchors them but not the labellers' abilities.

ε, the share of items whose aggregated label is wrong (`flip_rate`), by one of two estimators,
recorded with the run (`NoiseRun.epsilon_method`):
- `ppi`, prediction-powered inference (Angelopoulos et al. 2023, Science 382:669), used when at
  least MIN_GOLD_FOR_PPI (50) gold items have an aggregated label. The prediction is p0_i, the
  aggregator's P(aggregated label wrong) from a fit that never sees a gold answer (the gold items'
  crowd labels are in it, their answers are not), so p0 is fixed given the labels and no fold of
  gold trains it: the cross-fitting PPI needs when a predictor learns from the labelled set is not
  needed. On gold items w_i = 1[aggregated label ≠ gold answer]; ε̂ = mean over all N items of p0 +
  mean over the n gold items of (w − p0), 95 % interval ε̂ ± 1.96·√(var(p0)/N + var(w − p0)/n)
  (normal approximation; stored as computed, clipped to [0, 1] only for display, never widened to
  contain ε̂). The rectifier removes the aggregator's bias, whatever its cause, including the
  correlated errors of items of different difficulty that break Dawid–Skene's independence
  assumption and bias its posterior mean low. **Assumption: gold items are a random sample of the
  items** (drawn like any other item, not picked because they are easy, hard or disputed); a gold
  slice chosen otherwise makes the rectifier, and so ε̂, biased.
  In Tandem two things break that even for a random slice, and the estimate is only as good as
  the gold: gold answers set with the bulk "mark as gold" action copy the item's current curated
  label (w is then 0 by construction and ε̂ is pulled down), and gold items are served to every
  annotator at the gold rate, so they carry more labels than other items and their majority errs
  less. Give gold answers from an independent expert pass over a random sample (the calibration
  slice is one) for a PPI ε worth its interval.
- `posterior-mean` otherwise: ε̂ = mean p_wrong; its 95% interval is the 2.5–97.5 % quantiles of a
  bootstrap that resamples items and draws each item's flip from its posterior (reported as is, not
  widened to contain ε̂). It inherits the aggregator's model error: with correlated errors it is
  biased low and its interval misses the truth (bench/robust_training.py measures how often).
Per-item p_wrong is always the gold-anchored fit (gold items as known truths), whichever gives ε.

ε needs independent evidence about the labellers. With one label per item, no gold and no second
labeller, Dawid–Skene can only trust each labeller completely (posteriors ≈ 1): any ε̂ it gives
then measures nothing (issue 17: injected 20 % flips found at chance level). `signal_coverage`
says when that is so; the run then withholds ε and says why, and robust DPO is not offered it.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from annotate.kinds import registry as kind_registry
from annotate.models import Item, Project
from curation.labels import aggregate_labels, label_rows
from curation.models import EpsilonMethod, ItemNoise, NoiseRun
from curation.pluralism import controversial_items
from curation.quality import dawid_skene, ds_table, gold_answers
from workers.ml import embeddings
from workers.models import TaskRun

# ε is reported when most items have two or more independent labellers, or enough gold items
# are labelled to anchor every labeller's error rate.
MIN_MULTI_LABELLED_SHARE = 0.5
MIN_GOLD_FOR_EPSILON = 10
# PPI's interval is a normal approximation on a 0/1 outcome: with 10 gold items at ε = 5 % all ten are
# right 60 % of the time and the interval collapses around a biased value. 50 is where it starts to hold.
MIN_GOLD_FOR_PPI = 50
NOT_ENOUGH_LABELS = "not enough labels: no item has a decisive label yet"


@dataclass(frozen=True)
class SignalCoverage:
    """How much independent evidence about the labellers one kind's labels carry."""

    items: int  # items with a decisive aggregated label
    multi_labelled: int  # of those, items with decisive labels from two or more labellers
    gold_labelled: int  # gold items with at least one decisive label
    enough: bool
    reason: str = ""  # why ε is withheld; empty when enough

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "multi_labelled": self.multi_labelled,
            "gold_labelled": self.gold_labelled,
            "enough": self.enough,
            "reason": self.reason,
        }


def signal_coverage(
    table: list[tuple[int, int, int]], items: Iterable[int], gold: dict[int, int] | None = None
) -> SignalCoverage:
    """table: [(item, worker, ±1)]; items: the items with an aggregated label; gold: {item: ±1}."""
    items = set(items)
    if not items:
        return SignalCoverage(0, 0, 0, False, NOT_ENOUGH_LABELS)
    workers: dict[int, set[int]] = {}
    for i, w, _ in table:
        workers.setdefault(i, set()).add(w)
    multi = sum(1 for i in items if len(workers.get(i, ())) >= 2)
    gold_labelled = sum(1 for i in (gold or {}) if i in workers)
    enough = multi >= MIN_MULTI_LABELLED_SHARE * len(items) or gold_labelled >= MIN_GOLD_FOR_EPSILON
    reason = (
        ""
        if enough
        else (
            f"too few independent signals: {multi} of {len(items)} items have labels from two or more labellers "
            f"and {gold_labelled} gold items are labelled, so a labeller's errors cannot be told apart from "
            f"the truth. Collect overlap (k ≥ 2) on most items, {MIN_GOLD_FOR_EPSILON}+ gold items, or a judge's "
            "labels before trusting a flip rate."
        )
    )
    return SignalCoverage(len(items), multi, gold_labelled, enough, reason)


@dataclass(frozen=True)
class PPIEstimate:
    """Prediction-powered ε̂ with its normal-approximation 95 % interval (as computed, unclipped)."""

    epsilon: float
    low: float
    high: float
    items: int  # N: items the prediction p0 is averaged over
    gold: int  # n: gold items with an aggregated label
    prior_mean: float  # mean p0 over the N items: the aggregator's own estimate, without gold
    rectifier: float  # mean (w − p0) over the gold items: its measured bias

    def as_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "low": self.low,
            "high": self.high,
            "items": self.items,
            "gold": self.gold,
            "prior_mean": self.prior_mean,
            "rectifier": self.rectifier,
        }


Z95 = 1.959963984540054


def ppi_epsilon(prior: ArrayLike, gold_prior: ArrayLike, gold_wrong: ArrayLike) -> PPIEstimate:
    """ε̂_PPI = mean(prior) + mean(gold_wrong − gold_prior), interval ± 1.96·√(var(p0)/N + var(w − p0)/n).

    prior: p0 over all N items; gold_prior, gold_wrong: p0 and w = 1[aggregated ≠ gold] on the n gold items."""
    p0 = np.asarray(prior, dtype=float)
    g0, w = np.asarray(gold_prior, dtype=float), np.asarray(gold_wrong, dtype=float)
    if len(p0) < 2 or len(w) < 2 or len(g0) != len(w):
        raise ValueError("PPI needs two or more items and two or more gold items, with p0 for each gold item")
    rectifier = w - g0
    eps = float(p0.mean() + rectifier.mean())
    se = float(np.sqrt(p0.var(ddof=1) / len(p0) + rectifier.var(ddof=1) / len(w)))
    return PPIEstimate(eps, eps - Z95 * se, eps + Z95 * se, len(p0), len(w), float(p0.mean()), float(rectifier.mean()))


@dataclass(frozen=True)
class FlipRate:
    """ε̂ with its interval and the estimator that gave it; `posterior_mean` is always computed."""

    epsilon: float
    low: float
    high: float
    method: str  # an EpsilonMethod value
    posterior_mean: tuple[float, float, float]  # mean p_wrong and its bootstrap interval
    ppi: PPIEstimate | None = None


def flip_rate(
    p_wrong: dict,
    prior: dict | None = None,
    gold_wrong: dict | None = None,
    leave_out: Iterable[int] = (),
    n_boot: int = 2000,
    seed: int = 0,
) -> FlipRate:
    """ε over the items of p_wrong (less `leave_out`): PPI when MIN_GOLD_FOR_PPI or more gold
    items (gold_wrong: {item: 0/1}) have a prior p0 (prior: {item: p0}), else the posterior mean."""
    leave_out = set(leave_out)
    items = [i for i in p_wrong if i not in leave_out]
    posterior = bootstrap_epsilon([p_wrong[i] for i in items], n_boot=n_boot, seed=seed)
    prior, gold_wrong = prior or {}, gold_wrong or {}
    gold = [i for i in gold_wrong if i in prior and i in p_wrong and i not in leave_out]
    if len(gold) >= MIN_GOLD_FOR_PPI:
        ppi = ppi_epsilon(
            [prior[i] for i in items if i in prior], [prior[i] for i in gold], [gold_wrong[i] for i in gold]
        )
        return FlipRate(ppi.epsilon, ppi.low, ppi.high, EpsilonMethod.PPI, posterior, ppi)
    return FlipRate(*posterior, EpsilonMethod.POSTERIOR_MEAN, posterior)


@dataclass
class NoiseEstimate:
    p_wrong: dict  # {item: probability the aggregated label is wrong} (gold-anchored fit)
    epsilon: float
    epsilon_low: float
    epsilon_high: float
    signals: dict = field(default_factory=dict)  # {item: {knn_disagreement, judge_disagreement}}
    reliability: dict = field(default_factory=dict)  # {worker: DS accuracy}
    coverage: SignalCoverage | None = None
    epsilon_method: str = EpsilonMethod.POSTERIOR_MEAN
    flip: FlipRate | None = None  # both estimators' figures
    prior: dict = field(default_factory=dict)  # {item: p0}, the fit without gold answers (when gold is used)
    gold_wrong: dict = field(default_factory=dict)  # {gold item: 1 if its aggregated label ≠ gold answer else 0}


def embed(texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
    return embeddings.embed(texts, batch_size=batch_size)


def knn_votes(features: ArrayLike, labels: ArrayLike, k: int = 10, symmetric: bool = True) -> np.ndarray:
    """Leave-one-out k-NN vote in [−1, 1] per row (cosine similarity, similarity-weighted).

    symmetric: rows are pair differences, so a neighbour pointing the opposite way (negative
    similarity) is the mirrored pair and votes with its label negated."""
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.float32)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = min(k, n - 1)
    votes = np.zeros(n)
    for start in range(0, n, 1024):  # blockwise so memory stays O(block × n)
        sims = x[start : start + 1024] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = 0.0  # leave the item itself out
        score = np.abs(sims) if symmetric else sims
        nearest = np.argpartition(-score, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, nearest, axis=1)
        neighbour = y[nearest] * (np.sign(s) if symmetric else 1.0)
        w = np.abs(s) if symmetric else np.clip(s, 0, None)
        votes[start : start + len(s)] = (neighbour * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
    return votes


def bootstrap_epsilon(p: ArrayLike, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """ε̂ = mean p and the 95% bootstrap interval of the flip rate: resample items, draw each flip
    from its posterior, take the 2.5 and 97.5 % quantiles (not widened to contain ε̂)."""
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    rates = np.empty(n_boot)
    for b in range(n_boot):
        sample = p[rng.integers(0, len(p), len(p))]
        rates[b] = (rng.random(len(p)) < sample).mean()
    return float(p.mean()), float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))


@dataclass
class AggregatorFit:
    """What an aggregator gives the noise estimate: posteriors over the true label per item,
    and a reliability per worker (DS: accuracy; GLAD: mean σ(α·β) over the worker's items)."""

    posteriors: dict  # {item: {label: probability}}
    accuracy: dict  # {worker: reliability}
    item_signal: dict = field(default_factory=dict)  # {item: {name: value}}, e.g. GLAD's β


def fit_dawid_skene(table: list[tuple[int, int, int]], gold: dict[int, int] | None = None) -> AggregatorFit | None:
    model = dawid_skene(table, gold)
    return AggregatorFit(model.posteriors, dict(model.accuracy)) if model is not None else None


def with_gold(fit: AggregatorFit, gold: dict[int, int] | None) -> AggregatorFit:
    """The fit with gold items' posteriors set to the gold answer (abilities unchanged)."""
    posteriors = dict(fit.posteriors)
    for t, g in (gold or {}).items():
        if t in posteriors and g in (-1, 1):
            posteriors[t] = {g: 1.0, -g: 0.0}
    return AggregatorFit(posteriors, fit.accuracy, fit.item_signal)


def fit_glad(
    table: list[tuple[int, int, int]], gold: dict[int, int] | None = None, n_iter: int = 100
) -> AggregatorFit | None:
    """crowd-kit's GLAD on [(item, worker, ±1)]; gold items' posteriors set to the gold answer after
    the fit (`with_gold`): the fit itself never sees gold."""
    import pandas as pd
    from crowdkit.aggregation import GLAD

    df = pd.DataFrame(table, columns=["task", "worker", "label"]).drop_duplicates(["task", "worker"])
    if df.empty or df["label"].nunique() < 2:
        return None
    model = GLAD(n_iter=n_iter).fit(df)
    probas = model.probas_
    assert probas is not None  # set by fit
    posteriors = {t: {c: float(p) for c, p in row.items()} for t, row in probas.iterrows()}
    alpha, beta = model.alphas_, model.betas_
    ab = alpha.reindex(df["worker"]).to_numpy() * beta.reindex(df["task"]).to_numpy()
    correct = pd.Series(1.0 / (1.0 + np.exp(-ab)), index=df["worker"].to_numpy())
    accuracy = {w: float(v) for w, v in correct.groupby(level=0).mean().items()}
    return with_gold(AggregatorFit(posteriors, accuracy, {t: {"glad_beta": float(b)} for t, b in beta.items()}), gold)


AGGREGATORS = {"dawid-skene": fit_dawid_skene, "glad": fit_glad}
GOLD_AFTER_FIT = {"glad"}  # aggregators whose fit ignores gold: the fit without gold is the same fit, unanchored
AGGREGATOR_LABELS = {"dawid-skene": "Dawid–Skene", "glad": "GLAD (item difficulty)"}
METHOD_NAMES = {
    "dawid-skene": "dawid-skene(people+judges+gold)",
    "glad": "glad(people+judges; gold fixed after the fit)",
}


def estimate(
    labels,
    aggregated,
    features=None,
    gold=None,
    judges=(),
    k=10,
    symmetric=True,
    n_boot=2000,
    seed=0,
    aggregator="dawid-skene",
):
    """labels: [(item, worker, ±1)]; aggregated: {item: ±1}; features: {item: vector} (optional).
    judges: workers that are LM judges (reported as judge disagreement); aggregator: a key of AGGREGATORS."""
    if aggregator not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {aggregator!r}; one of {', '.join(AGGREGATORS)}")
    items = [i for i, d in aggregated.items() if d in (-1, 1)]
    # DS is fitted on every decisive label, tied items included: leaving them out would hide
    # exactly the disagreements that reveal annotators' error rates (and make it overconfident).
    table = [(i, w, int(d)) for i, w, d in labels if d in (-1, 1)]
    signals: dict[int, dict[str, Any]] = {i: {} for i in items}
    judges = set(judges)
    for i, w, d in table:
        if w in judges and i in signals:
            s = signals[i].setdefault("_judge", [0, 0])
            s[0] += d != aggregated[i]
            s[1] += 1
    for i in items:
        j = signals[i].pop("_judge", None)
        signals[i]["judge_disagreement"] = j[0] / j[1] if j else None

    gold = {i: g for i, g in (gold or {}).items() if g in (-1, 1)}
    gold_items = [i for i in items if i in gold]
    fit = AGGREGATORS[aggregator]
    prior_model: AggregatorFit | None = None
    if len(gold_items) >= MIN_GOLD_FOR_PPI:  # PPI's prediction p0: the same aggregator, no gold answers
        if aggregator in GOLD_AFTER_FIT:
            prior_model = fit(table, None)
            model = with_gold(prior_model, gold) if prior_model is not None else None
        else:
            prior_model, model = fit(table, None), fit(table, gold)
    else:
        model = fit(table, gold)
    if model is not None:
        for i, extra in model.item_signal.items():
            if i in signals:
                signals[i].update(extra)
    if features:
        with_features = [i for i in items if i in features]
        if len(with_features) >= 3:
            votes = knn_votes(
                [features[i] for i in with_features], [aggregated[i] for i in with_features], k=k, symmetric=symmetric
            )
            for i, v in zip(with_features, votes):
                signals[i]["knn_disagreement"] = float((1 - aggregated[i] * v) / 2)

    p_wrong = _p_wrong(model, items, aggregated, signals)
    prior = _p_wrong(prior_model, items, aggregated, signals) if prior_model is not None else {}
    gold_wrong = {i: int(aggregated[i] != gold[i]) for i in gold_items} if prior else {}
    flip = flip_rate(p_wrong, prior, gold_wrong, n_boot=n_boot, seed=seed)
    return NoiseEstimate(
        p_wrong,
        flip.epsilon,
        flip.low,
        flip.high,
        signals,
        dict(model.accuracy) if model else {},
        signal_coverage(table, items, gold),
        flip.method,
        flip,
        prior,
        gold_wrong,
    )


def _p_wrong(model: AggregatorFit | None, items: list[int], aggregated: dict, signals: dict) -> dict[int, float]:
    """1 − P(truth = aggregated label) per item; the k-NN signal where the model has no posterior."""
    p_wrong = {}
    for i in items:
        if model is not None and i in model.posteriors:
            p = 1.0 - model.posteriors[i].get(aggregated[i], 0.0)
        elif "knn_disagreement" in signals[i]:
            p = signals[i]["knn_disagreement"]
        else:
            continue
        p_wrong[i] = float(min(1.0, max(0.0, p)))
    return p_wrong


def auroc(scores: Sequence[float], truth: Sequence[int]) -> float:
    """Area under the ROC curve (flip detection)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(truth, dtype=int), np.asarray(scores, dtype=float)))


def _pair_text(prompt, response):
    return f"{prompt}\n\n{response}"


def item_features(project: Project, item_ids: Iterable[int], kind: str) -> dict[int, np.ndarray]:
    """Embeddings per item: pairs → e(prompt ⊕ B) − e(prompt ⊕ A); binary → e(prompt ⊕ response)."""

    rows = list(
        Item.objects.filter(project=project, id__in=list(item_ids))
        .order_by("id")
        .values_list("id", "prompt__text", "response_a__text", "response_b__text")
    )
    if not rows:
        return {}
    if kind == "pairwise":
        a = embed([_pair_text(p, ra) for _, p, ra, _ in rows])
        b = embed([_pair_text(p, rb or "") for _, p, _, rb in rows])
        return {r[0]: vb - va for r, va, vb in zip(rows, a, b)}
    vectors = embed([_pair_text(p, ra) for _, p, ra, _ in rows])
    return {r[0]: v for r, v in zip(rows, vectors)}


def run_noise(
    project: Project,
    task_run: TaskRun | None = None,
    use_embeddings: bool = True,
    k: int = 10,
    progress: Callable[[int, int], object] | None = None,
    aggregator: str = "dawid-skene",
) -> NoiseRun:
    """Estimate noise for every pairwise and binary item of the project; store ItemNoise and a NoiseRun.

    A kind whose labels carry too few independent signals (`signal_coverage`) keeps its per-item
    scores but gets no ε: the run records why instead, and so does an empty project."""
    from django.db import transaction

    if aggregator not in AGGREGATORS:  # before any work: a bad choice loses nothing
        raise ValueError(f"unknown aggregator {aggregator!r}; one of {', '.join(AGGREGATORS)}")
    progress = progress or (lambda step, total: None)
    gold = gold_answers(project)
    controversial = controversial_items(project)
    results, per_kind = {}, {}
    kinds = [spec.key for spec in kind_registry.all_kinds() if spec.noise_model]  # pairwise, binary
    for step, kind in enumerate(kinds):
        progress(step, len(kinds) + 1)
        rows = list(label_rows(project, kinds=[kind]))
        aggregated = {i: a.direction for i, a in aggregate_labels(project, kinds=[kind]).items() if a.direction}
        if not aggregated:
            continue
        judges = {r["annotator_id"] for r in rows if not r["is_person"]}  # judges and imported model labels
        features = item_features(project, aggregated.keys(), kind) if use_embeddings else None
        # The same label table and gold as the dashboard's fit (quality.annotator_quality): one DS fit.
        est = estimate(
            ds_table(rows, kind),
            aggregated,
            features=features,
            gold=gold,
            judges=judges,
            k=k,
            symmetric=kind == "pairwise",
            aggregator=aggregator,
        )
        trusted = est.coverage.enough
        left_out = controversial & set(est.p_wrong)
        # opinion the preference groups explain is not label noise: ε leaves it out
        flip = flip_rate(est.p_wrong, est.prior, est.gold_wrong, leave_out=left_out) if left_out else est.flip
        assert flip is not None  # estimate always sets it
        per_kind[kind] = {
            "items": len(est.p_wrong),
            "epsilon": flip.epsilon if trusted else None,
            "epsilon_low": flip.low if trusted else None,
            "epsilon_high": flip.high if trusted else None,
            "epsilon_method": flip.method if trusted else "",
            "posterior_mean": list(flip.posterior_mean) if trusted else None,
            "ppi": flip.ppi.as_dict() if flip.ppi and trusted else None,
            "coverage": est.coverage.as_dict(),
            "controversial_left_out": len(left_out),
            "reliability": {str(w): a for w, a in est.reliability.items()},
        }
        for i, p in est.p_wrong.items():
            results[i] = (p, {"direction": aggregated[i], "kind": kind}, est.signals.get(i, {}))
    progress(len(kinds), len(kinds) + 1)
    epsilon_of = "pairwise" if "pairwise" in per_kind else ("binary" if per_kind else None)
    main = per_kind.get(epsilon_of or "") or {
        "epsilon": None,
        "epsilon_low": None,
        "epsilon_high": None,
        "epsilon_method": "",
    }
    withheld = NOT_ENOUGH_LABELS if epsilon_of is None else per_kind[epsilon_of]["coverage"]["reason"]
    method = METHOD_NAMES[aggregator] + (" + knn-minilm signal" if use_embeddings else "")
    with transaction.atomic():
        if task_run is not None:  # a retried task replaces its own earlier result, never duplicates it
            NoiseRun.objects.filter(project=project, details__task_run=task_run.pk).delete()
        noise_run = NoiseRun.objects.create(
            project=project,
            method=method,
            epsilon=main["epsilon"],
            epsilon_low=main["epsilon_low"],
            epsilon_high=main["epsilon_high"],
            epsilon_method=main["epsilon_method"],
            item_count=len(results),
            details={
                "per_kind": per_kind,
                "k": k,
                "aggregator": aggregator,
                "task_run": task_run.pk if task_run else None,
                "epsilon_of": epsilon_of,
                "withheld": withheld,
            },
        )
        objs = [
            ItemNoise(item_id=i, run=noise_run, p_wrong=p, label=label, signals=signals)
            for i, (p, label, signals) in results.items()
        ]
        ItemNoise.objects.bulk_create(
            objs,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["item"],
            update_fields=["run", "p_wrong", "label", "signals"],
        )
    progress(len(kinds) + 1, len(kinds) + 1)
    return noise_run


def noise_histogram(project: Project, bins: int = 20) -> tuple[list[int], list[float]]:
    p = np.asarray(list(ItemNoise.objects.filter(item__project=project).values_list("p_wrong", flat=True)), dtype=float)
    counts, edges = np.histogram(p, bins=bins, range=(0, 1))
    return counts.tolist(), edges.tolist()
