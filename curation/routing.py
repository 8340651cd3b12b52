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
from django.db.models import Count, Q, TextField
from django.db.models.functions import Cast

from annotate.models import Annotation, AnnotationStatus, AnnotatorKind, FeedbackKind, Item, Project, Routing

from . import routing_sim as sim
from .features import TAG_DIMENSIONS
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
    # Only items with a reference (a human/imported label, or gold) can teach the router anything.
    referenced = Annotation.objects.filter(item__project=project, annotator__kind__in=human_kinds).values("item_id")
    rows = Annotation.objects.filter(item__project=project, kind__in=[FeedbackKind.PAIRWISE, FeedbackKind.BINARY]).filter(
        Q(item_id__in=referenced) | Q(item__is_gold=True)).values_list(
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
    """{item_id: value of a human label}: 1 where the jury's label points the wrong way w.r.t. the
    reference, 0.5 where the jury has no direction (tie, split vote, unparsed), 0 where it is right."""
    targets = {}
    for item_id, e in labels.items():
        reference = gold.get(item_id, _consensus(e["human"]))
        if reference is None or not e["judge_labels"]:
            continue
        if reference == 0:
            continue  # a tie reference says nothing about which way the jury should point
        targets[item_id] = float(sim.judge_error_target(_consensus(e["judge"]) or 0, reference))
    return targets


def load(project):
    """(items, gold answers): the project's items in id order, as tuples."""
    items = list(Item.objects.filter(project=project).order_by("pk").values_list("pk", "kind", "is_gold", "human_label_count"))
    gold = dict(Item.objects.filter(project=project, is_gold=True).values_list("pk", "gold_answer"))
    return items, gold


def feature_columns(project, ids):
    """(numeric {name: array}, categorical {dimension: array}, has_features mask), aligned with `ids`.
    On PostgreSQL the JSON is unpacked server-side into one array per feature (no per-row decoding
    in Python, the slowest step at 100k items); elsewhere the JSON is decoded in one call."""
    table, items = ItemFeatures._meta.db_table, Item._meta.db_table
    if connection.vendor == "postgresql":
        num = ", ".join(f"array_agg(CASE WHEN jsonb_typeof(f.\"values\"->'{k}') = 'number' THEN (f.\"values\"->>'{k}')::float8 END)"
                        for k in sim.NUMERIC)
        cat = ", ".join(f"array_agg(f.tags->>'{d}')" for d in TAG_DIMENSIONS)
        with connection.cursor() as cur:
            cur.execute(f"SELECT array_agg(f.item_id), {num}, {cat} FROM {table} f JOIN {items} i ON i.id = f.item_id "
                        f"WHERE i.project_id = %s", [project.pk])
            row = cur.fetchone()
        got = np.array(row[0] or [], dtype=np.int64)
        numeric = {k: np.array(v or [], dtype=float) for k, v in zip(sim.NUMERIC, row[1:1 + len(sim.NUMERIC)])}
        categorical = {d: np.array([x or "" for x in (v or [])], dtype=object) for d, v in zip(TAG_DIMENSIONS, row[1 + len(sim.NUMERIC):])}
    else:
        rows = list(ItemFeatures.objects.filter(item__project=project).order_by().values_list(
            "item_id", Cast("values", TextField()), Cast("tags", TextField())))
        decoded = json.loads("[" + ",".join(f"[{v},{t}]" for _, v, t in rows) + "]") if rows else []
        got = np.array([r[0] for r in rows], dtype=np.int64)
        numeric = {k: np.array([d[0].get(k) for d in decoded], dtype=float) for k in sim.NUMERIC}
        categorical = {dim: np.array([d[1].get(dim, "") for d in decoded], dtype=object) for dim in TAG_DIMENSIONS}
    # Align with ids (items without features get NaN / "" and are reported by the caller).
    order = np.argsort(got)
    pos = np.searchsorted(got[order], ids)
    pos = np.clip(pos, 0, max(len(got) - 1, 0))
    found = (got[order][pos] == ids) if len(got) else np.zeros(len(ids), bool)
    take = order[pos] if len(got) else np.zeros(len(ids), int)
    numeric = {k: np.where(found, v[take], np.nan) if len(v) else np.full(len(ids), np.nan) for k, v in numeric.items()}
    categorical = {d: np.where(found, v[take], "") if len(v) else np.full(len(ids), "", dtype=object) for d, v in categorical.items()}
    return numeric, categorical, found


def _write(ids, routes, scores, reasons):
    """Store the routes. On PostgreSQL one UPDATE per batch joins a single JSON parameter (no
    per-element array escaping in Python, which costs more than the UPDATE itself)."""
    table = Item._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        for start in range(0, len(ids), WRITE_BATCH):
            sl = slice(start, start + WRITE_BATCH)
            if connection.vendor == "postgresql":
                payload = "[" + ",".join(f'{{"id":{i},"routing":"{r}","score":{s!r},"reason":{why}}}'
                                         for i, r, s, why in zip(ids[sl], routes[sl], scores[sl], reasons[sl])) + "]"
                cur.execute(
                    f"UPDATE {table} AS t SET routing = v.routing, route_score = v.score, route_reason = v.reason "
                    f"FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, routing text, score float8, reason jsonb) WHERE t.id = v.id",
                    [payload])
            else:
                cur.executemany(f"UPDATE {table} SET routing = %s, route_score = %s, route_reason = %s WHERE id = %s",
                                list(zip(routes[sl], scores[sl], reasons[sl], ids[sl])))


def _reasons(run_id, strategy, why, rank, p_wrong, X, names, explained):
    """route_reason JSON per item, formatted directly (json.dumps per item is the slow part at 100k)."""
    head = [f'{{"run":{run_id},"strategy":"{strategy}","why":"{w}","rank":{r},"p_judge_wrong":{p}'
            for w, r, p in zip(why.tolist(), rank.tolist(), np.round(p_wrong, 4).tolist())]
    if explained is None or explained[0].shape[1] == 0:
        return [h + ',"top":[]}' for h in head]
    idx, contrib = explained
    quoted = [json.dumps(name) for name in names]
    values = np.take_along_axis(X, idx, axis=1)
    logged = np.array([name in sim.LOG_SCALED for name in names])[idx]
    values = np.where(logged, np.expm1(values), values)  # show lengths as counted, not as modelled
    values = np.where(np.isnan(values), np.inf, np.round(values, 3)).tolist()  # inf marks missing
    contrib = np.round(contrib, 3).tolist()
    out = []
    for h, cols, cs, vs in zip(head, idx.tolist(), contrib, values):
        top = ",".join(f'[{quoted[c]},{v},{"null" if x == float("inf") else x}]' for c, v, x in zip(cols, cs, vs))
        out.append(f'{h},"top":[{top}]}}')
    return out


def route_project(project, budget=None, count=None, strategy="router", human_route=Routing.HUMAN, seed=0,
                  user=None, sources_as_human=True):
    """Route every item of the project; returns the RoutingRun. Give `budget` (fraction of the
    non-gold items) or `count` (items)."""
    if strategy not in sim.STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {sim.STRATEGIES}")
    if human_route not in (Routing.HUMAN, Routing.BOTH):
        raise ValueError("humans' items are routed to 'human' or 'both'")
    timings, t0 = {}, time.perf_counter()
    items, gold_answers = load(project)
    n = len(items)
    ids = np.array([i[0] for i in items], dtype=np.int64)
    numeric, categorical, has_features = feature_columns(project, ids)
    if not has_features.all():
        raise ValueError(f"{int((~has_features).sum())} items have no features yet; compute features first")
    kinds = [i[1] for i in items]
    is_gold = np.array([i[2] for i in items], dtype=bool)
    spent = np.array([i[3] > 0 for i in items], dtype=bool) & ~is_gold
    gold = {i[0]: _direction(i[1], (gold_answers[i[0]] or {}).get("preference"), (gold_answers[i[0]] or {}).get("thumbs")) for i in items if i[2]}
    gold = {k: v for k, v in gold.items() if v is not None}
    X, names = sim.design_columns(numeric, categorical, kinds, n=n)
    # An item no judge could label (none ran yet, or every reply was unparsed) gets no label at all
    # unless a person gives one: it goes to humans right after the labels already paid for.
    no_judge_label = (np.nan_to_num(numeric["judge_count"], nan=0.0) == 0) | (
        np.nan_to_num(numeric["judge_unparsed"], nan=0.0) >= 1)
    unjudged = no_judge_label & ~spent & ~is_gold
    timings["load_s"] = time.perf_counter() - t0

    labels = label_directions(project, sources_as_human)
    human_acc, human_acc_source = estimate_human_accuracy(project, labels, gold)
    targets = training_targets(labels, gold)
    index = {int(i): j for j, i in enumerate(ids)}
    train_rows = np.array([index[i] for i in targets], dtype=int)
    y = np.array(list(targets.values()), dtype=float)
    router = None
    if len(train_rows) >= MIN_TRAINING_ITEMS:
        router = sim.Router(seed=seed).fit(X[train_rows], y, names)
        Z = router.transform(X)
        p_disagree = router.predict(Z=Z)
        p_wrong = sim.judge_wrong_from_disagreement(p_disagree, human_acc)
    else:  # cold start: judge uncertainty stands in for the (unknown) error probability
        conf = X[:, names.index("judge_confidence")]
        p_wrong = np.where(np.isnan(conf), 0.5, 1 - conf) * 0.5
        p_disagree = p_wrong
    timings["fit_s"] = time.perf_counter() - t0 - timings["load_s"]

    eligible = ~is_gold
    n_eligible = int(eligible.sum())
    k = int(count) if count is not None else int(round(float(budget or 0) * n_eligible))
    k = max(0, min(k, n_eligible))

    def scores_for(s):
        # Rank by the unclipped prediction: the noise correction is monotone but saturates at 1.
        base = p_disagree if (s == "router" and router is not None) else sim.baseline_scores(
            "uncertainty" if s == "router" else s, X, names, seed)
        # Labels already paid for are spent budget: first in line; then items judges left unlabelled.
        return np.where(spent, np.inf, np.where(unjudged, np.finfo(float).max, base))

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
    # Predicted gain: the probability that a human label changes the item's label (never saturates).
    route_score = np.where(unjudged, 1.0, np.asarray(p_disagree, dtype=float))

    rank = np.empty(n, int)
    rank[order] = np.arange(1, n + 1)
    why = np.where(is_gold, "gold", np.where(spent, "spent", np.where(
        to_humans, np.where(unjudged, "unjudged", "budget"), np.where(unjudged, "unjudged_over_budget", "judge"))))
    explained = router.explain(Z=Z) if router is not None and strategy == "router" else None

    # One transaction: the queue sees the old routing or the new one, never a mix; the project row
    # lock serialises two routing runs of the same project (PostgreSQL; SQLite has one writer anyway).
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        run = RoutingRun.objects.create(
            project=project, strategy=strategy, budget=k / n_eligible if n_eligible else 0.0, curve=curves[strategy],
            created_by=user, counts={}, model={})
        reasons = _reasons(run.pk, strategy, why, rank, p_wrong, X, names, explained)
        timings["score_s"] = time.perf_counter() - t0 - timings["load_s"] - timings["fit_s"]
        _write(ids.tolist(), route.tolist(), route_score.tolist(), reasons)
        timings["write_s"] = time.perf_counter() - t0 - sum(timings.values())
        counts = {"items": n, "human": int(to_humans.sum()), "judge": int((route == Routing.JUDGE).sum()),
                  "gold": int(is_gold.sum()), "spent": int(spent.sum()), "unjudged": int(unjudged.sum()), "training_items": int(len(train_rows)),
                  "training_positive_rate": round(float(y.mean()), 4) if len(y) else None}
        counts["training_items_judged"] = sum(1 for i in targets if labels[i]["judge"])  # with a parsed judge label
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
