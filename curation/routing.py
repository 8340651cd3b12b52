"""Routing service: decide per item whether humans or LM judges label it, within a human budget.

1. Training signal: items with both human (or gold) and judge labels; target = the judges' label is
   wrong w.r.t. the reference (gold answer, else the human consensus). That is the value a human
   label adds there.
2. `routing_sim.Router` predicts it for every item from its features; corrected for human noise it
   is the probability the judge label is wrong, i.e. the predicted gain of a human label.
3. The budget goes to the top-gain items; items humans already labelled count as spent and stay
   with humans; gold items go to both. Each item gets route_score and route_reason (top feature
   contributions); a RoutingRun keeps the predicted-quality curve for 0..100 % of every strategy.
"""
import json
import time

import numpy as np
from django.db import connection, transaction
from django.db.models import Count

from annotate.models import Annotation, AnnotationStatus, AnnotatorKind, FeedbackKind, Item, Routing

from . import routing_sim as sim
from .models import ItemFeatures, RoutingRun

MIN_TRAINING_ITEMS = 20
ASSUMED_HUMAN_ACCURACY = 0.9  # used only when neither gold items nor overlapping human labels exist
WRITE_BATCH = 20000


def _direction(kind, preference=None, thumbs=None):
    if kind == FeedbackKind.PAIRWISE:
        return None if preference is None else int(np.sign(preference))
    if kind == FeedbackKind.BINARY:
        return {"up": 1, "down": -1}.get(thumbs)
    return None


def label_directions(project, sources_as_human=True):
    """{item_id: {"human": [dirs], "judge": [dirs], "judge_labels": n}} for pairwise and binary items."""
    human_kinds = [AnnotatorKind.HUMAN] + ([AnnotatorKind.SOURCE] if sources_as_human else [])
    rows = Annotation.objects.filter(item__project=project, kind__in=[FeedbackKind.PAIRWISE, FeedbackKind.BINARY]).values_list(
        "item_id", "annotator__kind", "kind", "status", "preference", "thumbs")
    out = {}
    for item_id, who, kind, status, preference, thumbs in rows:
        entry = out.setdefault(item_id, {"human": [], "judge": [], "judge_labels": 0})
        if who == AnnotatorKind.JUDGE:
            entry["judge_labels"] += 1
            if status == AnnotationStatus.OK:
                entry["judge"].append(_direction(kind, preference, thumbs))
        elif who in human_kinds and status == AnnotationStatus.OK:
            entry["human"].append(_direction(kind, preference, thumbs))
    return out


def _consensus(directions):
    directions = [d for d in directions if d is not None]
    return int(np.sign(sum(directions))) if directions else None


def estimate_human_accuracy(project, labels, gold):
    """Human label accuracy: on gold items when there are enough, else from human–human agreement."""
    hits = [d == gold[i] for i, e in labels.items() if i in gold for d in e["human"] if d is not None]
    if len(hits) >= 10:
        return float(np.mean(hits)), f"gold ({len(hits)} labels)"
    agree = []
    for e in labels.values():
        h = [d for d in e["human"] if d is not None]
        agree += [h[i] == h[j] for i in range(len(h)) for j in range(i + 1, len(h))]
    if len(agree) >= 10:
        acc = sim.human_accuracy_from_agreement(float(np.mean(agree)))
        if acc is not None:
            return acc, f"agreement of overlapping human labels ({len(agree)} pairs)"
    return ASSUMED_HUMAN_ACCURACY, "assumed (no gold and too few overlapping human labels)"


def training_targets(labels, gold):
    """{item_id: 1 if the jury's label is wrong w.r.t. the reference, else 0}."""
    targets = {}
    for item_id, e in labels.items():
        reference = gold.get(item_id, _consensus(e["human"]))
        if reference is None or not e["judge_labels"]:
            continue
        targets[item_id] = int(_consensus(e["judge"]) != reference)
    return targets


def load(project):
    """Items of the project with their features, as parallel arrays."""
    items = list(Item.objects.filter(project=project).order_by("pk").values_list("pk", "kind", "is_gold", "gold_answer", "human_label_count"))
    feats = dict((i, (v, t)) for i, v, t in ItemFeatures.objects.filter(item__project=project).values_list("item_id", "values", "tags"))
    return items, feats


def _write(ids, routes, scores, reasons):
    table = Item._meta.db_table
    with transaction.atomic():
        for start in range(0, len(ids), WRITE_BATCH):
            sl = slice(start, start + WRITE_BATCH)
            with connection.cursor() as cur:
                if connection.vendor == "postgresql":
                    cur.execute(
                        f"UPDATE {table} AS t SET routing = v.routing, route_score = v.score, route_reason = v.reason::jsonb "
                        f"FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::text[]) AS v(id, routing, score, reason) WHERE t.id = v.id",
                        [ids[sl], routes[sl], scores[sl], reasons[sl]])
                else:
                    cur.executemany(f"UPDATE {table} SET routing = %s, route_score = %s, route_reason = %s WHERE id = %s",
                                    list(zip(routes[sl], scores[sl], reasons[sl], ids[sl])))


def route_project(project, budget=None, count=None, strategy="router", human_route=Routing.HUMAN, seed=0,
                  user=None, sources_as_human=True, progress=None):
    """Route every item of the project; returns the RoutingRun. Give `budget` (fraction of the
    non-gold items) or `count` (items)."""
    if strategy not in sim.STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {sim.STRATEGIES}")
    if human_route not in (Routing.HUMAN, Routing.BOTH):
        raise ValueError("humans' items are routed to 'human' or 'both'")
    timings, t0 = {}, time.perf_counter()
    items, feats = load(project)
    missing = [i[0] for i in items if i[0] not in feats]
    if missing:
        raise ValueError(f"{len(missing)} items have no features yet; compute features first")
    n = len(items)
    ids = np.array([i[0] for i in items], dtype=np.int64)
    kinds = [i[1] for i in items]
    is_gold = np.array([i[2] for i in items], dtype=bool)
    spent = np.array([i[4] > 0 for i in items], dtype=bool) & ~is_gold
    gold = {i[0]: _direction(i[1], (i[3] or {}).get("preference"), (i[3] or {}).get("thumbs")) for i in items if i[2]}
    gold = {k: v for k, v in gold.items() if v is not None}
    X, names = sim.design([feats[i][0] for i in ids], [feats[i][1] for i in ids], kinds)
    timings["load_s"] = time.perf_counter() - t0

    labels = label_directions(project, sources_as_human)
    human_acc, human_acc_source = estimate_human_accuracy(project, labels, gold)
    targets = training_targets(labels, gold)
    index = {int(i): j for j, i in enumerate(ids)}
    train_rows = np.array([index[i] for i in targets], dtype=int)
    y = np.array(list(targets.values()), dtype=int)
    router = None
    if len(train_rows) >= MIN_TRAINING_ITEMS:
        router = sim.Router(seed=seed).fit(X[train_rows], y, names)
        p_disagree = router.predict(X)
        p_wrong = sim.judge_wrong_from_disagreement(p_disagree, human_acc)
    else:  # cold start: judge uncertainty stands in for the (unknown) error probability
        conf = X[:, names.index("judge_confidence")]
        p_wrong = np.where(np.isnan(conf), 0.5, 1 - conf) * 0.5
    timings["fit_s"] = time.perf_counter() - t0 - timings["load_s"]

    eligible = ~is_gold
    n_eligible = int(eligible.sum())
    k = int(count) if count is not None else int(round(float(budget or 0) * n_eligible))
    k = max(0, min(k, n_eligible))

    def scores_for(s):
        base = p_wrong if (s == "router" and router is not None) else sim.baseline_scores(
            "uncertainty" if s == "router" else s, X, names, seed)
        return np.where(spent, np.inf, base)  # labels already paid for are spent budget: first in line

    curves, orders = {}, {}
    for s in sim.STRATEGIES:
        sc = np.where(eligible, scores_for(s), -np.inf)
        _, order = sim.select(sc, n, seed)
        orders[s] = order
        curves[s] = sim.quality_curve(order[:n_eligible], p_wrong, human_acc)
    order = orders[strategy]
    to_humans = np.zeros(n, bool)
    to_humans[order[:k]] = True
    to_humans |= spent  # a budget below what is already spent cannot take labels back
    route = np.where(is_gold, Routing.BOTH, np.where(to_humans, human_route, Routing.JUDGE))
    score = scores_for(strategy) if strategy != "random" else p_wrong
    route_score = np.where(np.isfinite(score), score, p_wrong).astype(float)

    run = RoutingRun.objects.create(
        project=project, strategy=strategy, budget=k / n_eligible if n_eligible else 0.0, curve=curves[strategy],
        created_by=user, counts={}, model={})
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    if router is not None and strategy == "router":
        top_idx, top_val = router.explain(X)
    else:
        top_idx, top_val = np.zeros((n, 0), int), np.zeros((n, 0))
    reasons = []
    for j in range(n):
        why = "gold" if is_gold[j] else ("spent" if spent[j] else ("budget" if to_humans[j] else "judge"))
        top = [[router.names_[c], round(float(v), 3)] for c, v in zip(top_idx[j], top_val[j])] if top_idx.shape[1] else []
        reasons.append(json.dumps({"run": run.pk, "strategy": strategy, "why": why, "rank": int(rank[j]) + 1,
                                   "p_judge_wrong": round(float(p_wrong[j]), 4), "top": top}))
    timings["score_s"] = time.perf_counter() - t0 - timings["load_s"] - timings["fit_s"]
    _write(ids.tolist(), route.tolist(), route_score.tolist(), reasons)
    timings["write_s"] = time.perf_counter() - t0 - sum(timings.values())
    counts = {"items": n, "human": int(to_humans.sum()), "judge": int((route == Routing.JUDGE).sum()),
              "gold": int(is_gold.sum()), "spent": int(spent.sum()), "training_items": int(len(train_rows)),
              "training_positive_rate": round(float(y.mean()), 4) if len(y) else None}
    model = {"router": router.summary() if router else {"kind": "cold_start", "note": "fewer than "
             f"{MIN_TRAINING_ITEMS} items with both human and judge labels; ranked by judge uncertainty"},
             "human_accuracy": round(human_acc, 4), "human_accuracy_source": human_acc_source,
             "curves": curves, "human_route": human_route, "seed": seed,
             "timings": {k_: round(v, 3) for k_, v in timings.items()}}
    RoutingRun.objects.filter(pk=run.pk).update(counts=counts, model=model)
    project.human_budget = run.budget
    project.save(update_fields=["human_budget"])
    run.refresh_from_db()
    return run


def spend(project):
    """Human labelling spent so far against the budget of the latest routing run."""
    items = Item.objects.filter(project=project, is_gold=False)
    total = items.count()
    labelled = items.filter(human_label_count__gt=0).count()
    routed = items.filter(routing__in=[Routing.HUMAN, Routing.BOTH]).count()
    by_route = dict(items.order_by().values_list("routing").annotate(n=Count("pk")))
    return {"items": total, "labelled": labelled, "routed_to_humans": routed, "by_route": by_route,
            "budget_items": round(project.human_budget * total), "budget": project.human_budget}
