"""Label noise: for each pairwise/binary item, the posterior probability that its aggregated label
is wrong, and the dataset flip rate ε with a confidence interval (rDPO's `label_smoothing`).

Signals, combined in one Dawid–Skene model (crowd-kit) so each is weighted by its estimated
reliability rather than by a hand-set weight:
- every person's and every LM judge's label is a worker (annotator reliability; judge disagreement);
- a k-nearest-neighbour "worker" votes each item's label from its neighbours' labels over
  sentence embeddings (leave-one-out; for pairs on the difference vector e(B) − e(A), with the
  mirrored pair (−d, −y) counted too, so "A better" and "B better" are treated alike);
- gold answers are passed as known truths.
p_wrong = 1 − P(truth = aggregated label). ε̂ = mean p_wrong; its 95% CI comes from a bootstrap
that resamples items and draws each item's flip from its posterior.
"""
from dataclasses import dataclass, field

import numpy as np

from workers import embeddings

from .pluralism import controversial_items

KNN_WORKER = "__knn__"


@dataclass
class NoiseEstimate:
    p_wrong: dict  # {item: probability the aggregated label is wrong}
    epsilon: float
    epsilon_low: float
    epsilon_high: float
    signals: dict = field(default_factory=dict)  # {item: {ds_without_knn, knn_disagreement, judge_disagreement, ...}}
    reliability: dict = field(default_factory=dict)  # {worker: DS accuracy}


def embed(texts, batch_size=64):
    return embeddings.embed(texts, batch_size=batch_size)


def knn_votes(features, labels, k=10, symmetric=True):
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
        sims = x[start:start + 1024] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = 0.0  # leave the item itself out
        score = np.abs(sims) if symmetric else sims
        nearest = np.argpartition(-score, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, nearest, axis=1)
        neighbour = y[nearest] * (np.sign(s) if symmetric else 1.0)
        w = np.abs(s) if symmetric else np.clip(s, 0, None)
        votes[start:start + len(s)] = (neighbour * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
    return votes


def bootstrap_epsilon(p, n_boot=2000, seed=0):
    """95% CI of the flip rate: resample items, draw each flip from its posterior."""
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    rates = np.empty(n_boot)
    for b in range(n_boot):
        sample = p[rng.integers(0, len(p), len(p))]
        rates[b] = (rng.random(len(p)) < sample).mean()
    eps = float(p.mean())
    return eps, min(eps, float(np.quantile(rates, 0.025))), max(eps, float(np.quantile(rates, 0.975)))


def estimate(labels, aggregated, features=None, gold=None, judges=(), k=10, symmetric=True, n_boot=2000, seed=0):
    """labels: [(item, worker, ±1)]; aggregated: {item: ±1}; features: {item: vector} (optional).
    judges: workers that are LM judges (reported as judge disagreement)."""
    from .quality import dawid_skene

    items = [i for i, d in aggregated.items() if d in (-1, 1)]
    # DS is fitted on every decisive label, tied items included: leaving them out would hide
    # exactly the disagreements that reveal annotators' error rates (and make it overconfident).
    table = [(i, w, int(d)) for i, w, d in labels if d in (-1, 1)]
    signals = {i: {} for i in items}
    judges = set(judges)
    for i, w, d in table:
        if w in judges and i in signals:
            s = signals[i].setdefault("_judge", [0, 0])
            s[0] += d != aggregated[i]
            s[1] += 1
    for i in items:
        j = signals[i].pop("_judge", None)
        signals[i]["judge_disagreement"] = j[0] / j[1] if j else None

    base = dawid_skene(table, gold)
    knn_table = []
    if features:
        with_features = [i for i in items if i in features]
        if len(with_features) >= 3:
            votes = knn_votes([features[i] for i in with_features], [aggregated[i] for i in with_features], k=k, symmetric=symmetric)
            for i, v in zip(with_features, votes):
                signals[i]["knn_disagreement"] = float((1 - aggregated[i] * v) / 2)
                if v:
                    knn_table.append((i, KNN_WORKER, 1 if v > 0 else -1))
    model = dawid_skene(table + knn_table, gold) if knn_table else base

    p_wrong = {}
    for i in items:
        if base is not None and i in base.posteriors:
            signals[i]["ds_without_knn"] = 1.0 - base.posteriors[i].get(aggregated[i], 0.0)
        if model is not None and i in model.posteriors:
            p = 1.0 - model.posteriors[i].get(aggregated[i], 0.0)
        elif "knn_disagreement" in signals[i]:
            p = signals[i]["knn_disagreement"]
        else:
            continue
        p_wrong[i] = float(min(1.0, max(0.0, p)))
    eps, low, high = bootstrap_epsilon(list(p_wrong.values()), n_boot=n_boot, seed=seed)
    return NoiseEstimate(p_wrong, eps, low, high, signals, dict(model.accuracy) if model else {})


def auroc(scores, truth):
    """Area under the ROC curve (flip detection)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(truth, dtype=int), np.asarray(scores, dtype=float)))


def _pair_text(prompt, response):
    return f"{prompt}\n\n{response}"


def item_features(project, item_ids, kind):
    """Embeddings per item: pairs → e(prompt ⊕ B) − e(prompt ⊕ A); binary → e(prompt ⊕ response)."""
    from annotate.models import Item

    rows = list(Item.objects.filter(project=project, id__in=list(item_ids)).order_by("id")
                .values_list("id", "prompt__text", "response_a__text", "response_b__text"))
    if not rows:
        return {}
    if kind == "pairwise":
        a = embed([_pair_text(p, ra) for _, p, ra, _ in rows])
        b = embed([_pair_text(p, rb or "") for _, p, _, rb in rows])
        return {r[0]: vb - va for r, va, vb in zip(rows, a, b)}
    vectors = embed([_pair_text(p, ra) for _, p, ra, _ in rows])
    return {r[0]: v for r, v in zip(rows, vectors)}


def run_noise(project, task_run=None, use_embeddings=True, k=10, progress=None):
    """Estimate noise for every pairwise and binary item of the project; store ItemNoise and a NoiseRun."""
    from django.db import transaction

    from annotate.models import AnnotatorKind

    from .labels import aggregate_labels, label_rows
    from .models import ItemNoise, NoiseRun
    from .quality import gold_answers

    progress = progress or (lambda step, total: None)
    gold = gold_answers(project)
    controversial = controversial_items(project)
    results, per_kind = {}, {}
    kinds = ("pairwise", "binary")
    for step, kind in enumerate(kinds):
        progress(step, len(kinds) + 1)
        rows = list(label_rows(project, kinds=[kind]))
        aggregated = {i: a.direction for i, a in aggregate_labels(project, kinds=[kind]).items() if a.direction}
        if not aggregated:
            continue
        judges = {r["annotator_id"] for r in rows if r["annotator_kind"] == AnnotatorKind.JUDGE}
        features = item_features(project, aggregated.keys(), kind) if use_embeddings else None
        est = estimate([(r["item_id"], r["annotator_id"], r["direction"]) for r in rows], aggregated, features=features,
                       gold={i: g for i, g in gold.items() if i in aggregated}, judges=judges, k=k,
                       symmetric=kind == "pairwise")
        eps, low, high = est.epsilon, est.epsilon_low, est.epsilon_high
        left_out = controversial & set(est.p_wrong)
        if left_out:  # opinion the preference groups explain is not label noise: ε leaves it out
            eps, low, high = bootstrap_epsilon([p for i, p in est.p_wrong.items() if i not in left_out])
        per_kind[kind] = {"items": len(est.p_wrong), "epsilon": eps, "epsilon_low": low,
                          "epsilon_high": high, "controversial_left_out": len(left_out),
                          "reliability": {str(w): a for w, a in est.reliability.items()}}
        for i, p in est.p_wrong.items():
            results[i] = (p, {"direction": aggregated[i], "kind": kind}, est.signals.get(i, {}))
    progress(len(kinds), len(kinds) + 1)
    main = per_kind.get("pairwise") or per_kind.get("binary") or {"epsilon": 0.0, "epsilon_low": 0.0, "epsilon_high": 0.0}
    method = "dawid-skene(people+judges" + ("+knn-minilm" if use_embeddings else "") + ")"
    with transaction.atomic():
        if task_run is not None:  # a retried task replaces its own earlier result, never duplicates it
            NoiseRun.objects.filter(project=project, details__task_run=task_run.pk).delete()
        noise_run = NoiseRun.objects.create(
            project=project, method=method, epsilon=main["epsilon"], epsilon_low=main["epsilon_low"],
            epsilon_high=main["epsilon_high"], item_count=len(results),
            details={"per_kind": per_kind, "k": k, "task_run": task_run.pk if task_run else None,
                     "epsilon_of": "pairwise" if "pairwise" in per_kind else ("binary" if per_kind else None)},
        )
        objs = [ItemNoise(item_id=i, run=noise_run, p_wrong=p, label=label, signals=signals)
                for i, (p, label, signals) in results.items()]
        ItemNoise.objects.bulk_create(objs, batch_size=2000, update_conflicts=True, unique_fields=["item"],
                                      update_fields=["run", "p_wrong", "label", "signals"])
    progress(len(kinds) + 1, len(kinds) + 1)
    return noise_run


def noise_histogram(project, bins=20):
    from .models import ItemNoise

    p = np.asarray(list(ItemNoise.objects.filter(item__project=project).values_list("p_wrong", flat=True)), dtype=float)
    counts, edges = np.histogram(p, bins=bins, range=(0, 1))
    return counts.tolist(), edges.tolist()
