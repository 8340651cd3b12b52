"""Routing service: decide per item whether people or LM judges label it, within a human budget.

1. A random calibration slice (`calibration.py`) is labelled by people and judges. Routers learn
   only there and on gold, never on items a router chose.
2. Strategies (`strategies.py`): the PPM of Hybrid Preferences (`ppm.py`: per-item gain from a
   regressor fitted to proxy-reward-model accuracy of candidate mixes; top-k, or the paper's
   simulated selection), the judge-error model (learning to defer, `routing_sim.py`), and random /
   judge-uncertainty-first / jury-disagreement-first.
3. The budget goes to the chosen items; items people already labelled count as spent and stay with
   people; gold and calibration items go to both. Each item gets route_score and route_reason.
4. Every RoutingRun stores MEASURED curves: held-out accuracy of a proxy reward model trained on
   each strategy's mix, per budget, mean and sd over seeds, with all-human and all-judge; the
   judge-error model's predicted label accuracy is kept beside them, labelled as a prediction.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from psycopg.sql import SQL, Identifier, Literal, Placeholder

from annotate.models import (
    Annotation,
    AnnotationStatus,
    FeedbackKind,
    Item,
    Project,
    Routing,
    human_label_q,
    judge_label_q,
)
from annotate.projects import lock_project
from curation import calibration, strategies
from curation import ppm as ppm_mod
from curation import routing_sim as sim
from curation.features import JUDGE_SIGNALS, TAG_DIMENSIONS, judge_signals
from curation.labels import direction
from curation.mix_eval import LabelledPairs
from curation.models import ItemFeatures, RoutingRun
from workers.ml import embeddings
from workers.ml.reward_heads import PROXY_DIMENSIONS, pair_deltas, principal_directions

ASSUMED_HUMAN_ACCURACY = 0.9  # used only when neither gold items nor overlapping human labels exist
WRITE_BATCH = 20000
CURVE_SEEDS = 5
MIN_CURVE_ITEMS = 30


@dataclass
class ItemDirections:
    """One item's label directions (±1, 0 a tie, None unusable), people's and judges'."""

    human: list[int | None] = field(default_factory=list)
    judge: list[int | None] = field(default_factory=list)
    judge_labels: int = 0  # judge labels made, parsed or not


def label_directions(project: Project, item_ids: Iterable[int]) -> dict[int, ItemDirections]:
    """ItemDirections per labelled item of the given ones. Human means `human_label_q()`: people,
    and imported sources declared human — never by default. Judge means `judge_label_q()`: judges
    run in Tandem and imported model labels (UltraFeedback's, AlpacaEval's GPT-4 verdicts)."""
    out: dict[int, ItemDirections] = {}
    base = Annotation.objects.filter(
        item__project=project, item_id__in=list(item_ids), kind__in=[FeedbackKind.PAIRWISE, FeedbackKind.BINARY]
    )
    for item_id, kind, preference, thumbs in base.filter(human_label_q(), status=AnnotationStatus.OK).values_list(
        "item_id", "kind", "preference", "thumbs"
    ):
        out.setdefault(item_id, ItemDirections()).human.append(direction(kind, preference, thumbs))
    for item_id, kind, status, preference, thumbs in base.filter(judge_label_q()).values_list(
        "item_id", "kind", "status", "preference", "thumbs"
    ):
        entry = out.setdefault(item_id, ItemDirections())
        entry.judge_labels += 1
        if status == AnnotationStatus.OK:
            entry.judge.append(direction(kind, preference, thumbs))
    return out


def _consensus(directions):
    directions = [d for d in directions if d is not None]
    return int(np.sign(sum(directions))) if directions else None


def estimate_human_accuracy(labels: dict[int, ItemDirections], gold: dict[int, int]) -> tuple[float, str]:
    """Human label accuracy: on gold items when there are enough, else from human–human agreement."""
    hits = [d == gold[i] for i, e in labels.items() if i in gold for d in e.human if d is not None]
    if len(hits) >= 10:
        return float(np.mean(hits)), f"gold ({len(hits)} labels)"
    agree = []
    for e in labels.values():
        h = [d for d in e.human if d is not None]
        agree += [h[i] == h[j] for i in range(len(h)) for j in range(i + 1, len(h))]
    if len(agree) >= 10:
        acc = sim.human_accuracy_from_agreement(float(np.mean(agree)))
        if acc is not None:
            return acc, f"agreement of overlapping human labels ({len(agree)} pairs)"
    return ASSUMED_HUMAN_ACCURACY, "assumed (no gold and too few overlapping human labels)"


def load(project):
    """(items, gold answers): the project's items in id order, as tuples. `human_label_count`
    counts people's labels, given in Tandem or imported from a source declared human."""
    items = list(
        Item.objects.filter(project=project)
        .order_by("pk")
        .values_list("pk", "kind", "is_gold", "human_label_count", "calibration")
    )
    gold = dict(Item.objects.filter(project=project, is_gold=True).values_list("pk", "gold_answer"))
    return items, gold


def features_sql(project):
    """(item ids, numeric {name: array}, categorical {dimension: array}) of the project's features,
    PostgreSQL: the JSON is unpacked server-side into one array per feature (no per-row decoding
    in Python, the slowest step at 100k items). The SQL twin of `features_orm` (tests/test_routing.py)."""
    values, tags = SQL('f."values"'), SQL("f.tags")
    num = SQL(", ").join(
        SQL("array_agg(CASE WHEN jsonb_typeof({v}->{k}) = 'number' THEN ({v}->>{k})::float8 END)").format(
            v=values, k=Literal(k)
        )
        for k in sim.NUMERIC
    )
    cat = SQL(", ").join(SQL("array_agg({}->>{})").format(tags, Literal(d)) for d in TAG_DIMENSIONS)
    query = SQL(
        "SELECT array_agg(f.item_id), {num}, {cat} FROM {features} f JOIN {items} i ON i.id = f.item_id "
        "WHERE i.project_id = {project}"
    ).format(
        num=num,
        cat=cat,
        features=Identifier(ItemFeatures._meta.db_table),
        items=Identifier(Item._meta.db_table),
        project=Placeholder(),
    )
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor), [project.pk])
        row = cur.fetchone()
    got = np.array(row[0] or [], dtype=np.int64)
    numeric = {k: np.array(v or [], dtype=float) for k, v in zip(sim.NUMERIC, row[1 : 1 + len(sim.NUMERIC)])}
    categorical = {
        d: np.array([x or "" for x in (v or [])], dtype=object)
        for d, v in zip(TAG_DIMENSIONS, row[1 + len(sim.NUMERIC) :])
    }
    return got, numeric, categorical


def features_orm(project):
    """`features_sql` on any database: the JSON of every row decoded in one call."""
    rows = list(
        ItemFeatures.objects.filter(item__project=project)
        .order_by()
        .values_list("item_id", Cast("values", TextField()), Cast("tags", TextField()))
    )
    decoded = json.loads("[" + ",".join(f"[{v},{t}]" for _, v, t in rows) + "]") if rows else []
    got = np.array([r[0] for r in rows], dtype=np.int64)
    numeric = {k: np.array([_number(d[0].get(k)) for d in decoded], dtype=float) for k in sim.NUMERIC}
    categorical = {dim: np.array([d[1].get(dim, "") for d in decoded], dtype=object) for dim in TAG_DIMENSIONS}
    return got, numeric, categorical


def _number(value):
    """A JSON number as a float; anything else (missing, text, true/false) is NaN, as in features_sql."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def feature_columns(project, ids):
    """(numeric {name: array}, categorical {dimension: array}, has_features mask), aligned with `ids`."""
    read = features_sql if connection.vendor == "postgresql" else features_orm
    got, numeric, categorical = read(project)
    # Align with ids (items without features get NaN / "" and are reported by the caller).
    order = np.argsort(got)
    pos = np.searchsorted(got[order], ids)
    pos = np.clip(pos, 0, max(len(got) - 1, 0))
    found = (got[order][pos] == ids) if len(got) else np.zeros(len(ids), bool)
    take = order[pos] if len(got) else np.zeros(len(ids), int)
    numeric = {k: np.where(found, v[take], np.nan) if len(v) else np.full(len(ids), np.nan) for k, v in numeric.items()}
    categorical = {
        d: np.where(found, v[take], "") if len(v) else np.full(len(ids), "", dtype=object)
        for d, v in categorical.items()
    }
    return numeric, categorical, found


def live_judge_columns(project, ids, numeric):
    """Replace the judge signals in `numeric` (aligned with `ids`) by today's: judges that ran, or
    labels that arrived, after the features were computed count (the stored copy is a snapshot)."""
    signals = judge_signals(project=project)
    for name in JUDGE_SIGNALS:
        numeric[name] = np.array([_number((signals.get(int(pk)) or {}).get(name)) for pk in ids], dtype=float)
    return numeric


def write_routes(ids, routes, scores, reasons, one_statement=None):
    """Store the routes. On PostgreSQL (`one_statement`, the default there) one UPDATE per batch
    joins a single JSON parameter (no per-element array escaping in Python, which costs more than
    the UPDATE itself); elsewhere one UPDATE per item. tests/test_routing.py holds the two equal."""
    if one_statement is None:
        one_statement = connection.vendor == "postgresql"
    table = Identifier(Item._meta.db_table)
    if one_statement:
        query = SQL(
            "UPDATE {} AS t SET routing = v.routing, route_score = v.score, route_reason = v.reason "
            "FROM jsonb_to_recordset({}::jsonb) AS v(id bigint, routing text, score float8, reason jsonb) WHERE t.id = v.id"
        ).format(table, Placeholder())
    else:
        query = SQL("UPDATE {} SET routing = %s, route_score = %s, route_reason = %s WHERE id = %s").format(table)
    with transaction.atomic(), connection.cursor() as cur:
        statement = query.as_string(None)
        for start in range(0, len(ids), WRITE_BATCH):
            sl = slice(start, start + WRITE_BATCH)
            if one_statement:
                payload = (
                    "["
                    + ",".join(
                        f'{{"id":{i},"routing":"{r}","score":{s!r},"reason":{why}}}'
                        for i, r, s, why in zip(ids[sl], routes[sl], scores[sl], reasons[sl])
                    )
                    + "]"
                )
                cur.execute(statement, [payload])
            else:
                cur.executemany(statement, list(zip(routes[sl], scores[sl], reasons[sl], ids[sl])))


def _reasons(run_id, strategy, why, rank, score, names, explained):
    """route_reason JSON per item, formatted directly (json.dumps per item is the slow part at 100k).
    `explained`: (feature indices n × t, contributions n × t, values n × t, NaN = missing) or None."""
    head = [
        f'{{"run":{run_id},"strategy":"{strategy}","why":"{w}","rank":{r},"score":{p}'
        for w, r, p in zip(
            why.tolist(), rank.tolist(), np.round(np.nan_to_num(score, nan=0.0, posinf=1.0, neginf=0.0), 4).tolist()
        )
    ]
    if explained is None or explained[0].shape[1] == 0:
        return [h + ',"top":[]}' for h in head]
    idx, contrib, values = explained
    quoted = [json.dumps(name) for name in names]
    values = np.where(np.isnan(values), np.inf, np.round(values, 3)).tolist()  # inf marks missing
    contrib = np.round(contrib, 4).tolist()
    out = []
    for h, cols, cs, vs in zip(head, idx.tolist(), contrib, values):
        top = ",".join(
            f"[{quoted[c]},{v},{'null' if x == float('inf') else x}]" for c, v, x in zip(cols, cs, vs) if v != 0
        )
        out.append(f'{h},"top":[{top}]}}')
    return out


def _judge_error_explained(model, X, names):
    idx, contrib = model.explain(X)
    values = np.take_along_axis(X, idx, axis=1)
    logged = np.array([name in sim.LOG_SCALED for name in names])[idx]
    return idx, contrib, np.where(logged, np.expm1(values), values)  # show lengths as counted, not as modelled


def _ppm_explained(model, B, top=3):
    """The item's features with the largest fitted coefficients: its gain is their sum."""
    contrib = np.where(B, model.coef[None, :], -np.inf)
    k = min(top, B.shape[1])
    idx = np.argsort(-contrib, axis=1)[:, :k]
    picked = np.take_along_axis(contrib, idx, axis=1)
    return idx, np.where(np.isfinite(picked), picked, 0.0), np.ones(idx.shape)


def routing_data(project, ids, rows, kinds, is_gold, gold, X, names, B, count_names):
    """`strategies.RoutingData` for the pairwise items at `rows` (calibration slice + gold): their
    labels, reference (gold, else the people's consensus) and embedding differences."""
    rows = np.asarray([r for r in rows if kinds[r] == FeedbackKind.PAIRWISE], dtype=int)
    labels = label_directions(project, ids[rows].tolist())
    none = ItemDirections()
    human = np.array([_consensus(labels.get(int(ids[r]), none).human) or 0 for r in rows], dtype=int)
    judge = np.array([_consensus(labels.get(int(ids[r]), none).judge) or 0 for r in rows], dtype=int)
    reference = np.array([gold.get(int(ids[r])) or h for r, h in zip(rows, human)], dtype=int)
    texts = {
        pk: (p, a, b or "")
        for pk, p, a, b in Item.objects.filter(pk__in=ids[rows].tolist()).values_list(
            "pk", "prompt__text", "response_a__text", "response_b__text"
        )
    }
    triples = [texts[int(ids[r])] for r in rows]
    prompts, responses_a, responses_b = [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples]
    delta = (
        principal_directions(pair_deltas(embeddings.embed, prompts, responses_a, responses_b))
        if triples
        else np.zeros((0, PROXY_DIMENSIONS))
    )
    pairs = LabelledPairs(ids[rows], delta, human, judge)
    return strategies.RoutingData(pairs, reference, X[rows], names, B[rows], count_names, is_gold[rows]), labels


def _unlabelled(ids, X, names, B, count_names, is_gold):
    """RoutingData for ranking only (no labels, no embeddings): what the strategies see of items to route."""
    n = len(ids)
    return strategies.RoutingData(
        LabelledPairs(ids, np.zeros((n, 0)), np.zeros(n, int), np.zeros(n, int)),
        np.zeros(n, int),
        X,
        names,
        B,
        count_names,
        is_gold,
    )


def route_project(
    project: Project,
    budget: float | None = None,
    count: int | None = None,
    strategy: str = "ppm",
    human_route: str = Routing.HUMAN,
    seed: int = 0,
    user: User | None = None,
    calibration_fraction: float = calibration.DEFAULT_FRACTION,
    calibration_minimum: int = calibration.DEFAULT_MINIMUM,
    curve_seeds: int = CURVE_SEEDS,
    n_mixes: int | None = None,
) -> RoutingRun:
    """Route every item of the project; returns the RoutingRun. Give `budget` (fraction of the
    non-gold items) or `count` (items). Marks the calibration slice first if the project has none."""
    if strategy not in sim.STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {sim.STRATEGIES}")
    if human_route not in (Routing.HUMAN, Routing.BOTH):
        raise ValueError("humans' items are routed to 'human' or 'both'")
    timings, t0 = {}, time.perf_counter()
    calibration.ensure_slice(project, calibration_fraction, calibration_minimum, seed=None)
    items, gold_answers = load(project)
    n = len(items)
    ids = np.array([i[0] for i in items], dtype=np.int64)
    numeric, categorical, has_features = feature_columns(project, ids)
    if not has_features.all():
        raise ValueError(f"{int((~has_features).sum())} items have no features yet; compute features first")
    t_signals = time.perf_counter()
    numeric = live_judge_columns(project, ids, numeric)
    signals_s = time.perf_counter() - t_signals  # part of load_s; recorded after the stage sums
    kinds = [i[1] for i in items]
    is_gold = np.array([i[2] for i in items], dtype=bool)
    in_slice = np.array([i[4] for i in items], dtype=bool) & ~is_gold
    spent = np.array([i[3] > 0 for i in items], dtype=bool) & ~is_gold & ~in_slice
    gold = {
        i[0]: direction(i[1], (gold_answers[i[0]] or {}).get("preference"), (gold_answers[i[0]] or {}).get("thumbs"))
        for i in items
        if i[2]
    }
    gold = {k: v for k, v in gold.items() if v is not None}
    X, names = sim.design_columns(numeric, categorical, kinds, n=n)
    B, count_names = ppm_mod.count_features(numeric, categorical, n)
    # An item no judge could label (none ran yet, or every reply was unparsed) gets no label at all
    # unless a person gives one: it goes to humans right after the labels already paid for.
    no_judge_label = (np.nan_to_num(numeric["judge_count"], nan=0.0) == 0) | (
        np.nan_to_num(numeric["judge_unparsed"], nan=0.0) >= 1
    )
    unjudged = no_judge_label & ~spent & ~is_gold & ~in_slice
    timings["load_s"] = time.perf_counter() - t0

    # Routers learn on the calibration slice and gold only.
    scope = np.flatnonzero(in_slice | is_gold)
    data, labels = routing_data(project, ids, scope, kinds, is_gold, gold, X, names, B, count_names)
    human_acc, human_acc_source = estimate_human_accuracy(labels, gold)
    routers = strategies.fit_routers(data, seed=seed, n_mixes=n_mixes, with_ppm=True)
    timings["fit_s"] = time.perf_counter() - t0 - timings["load_s"]

    eligible = ~is_gold & ~in_slice
    n_eligible = int((~is_gold).sum())
    k = int(count) if count is not None else int(round(float(budget or 0) * n_eligible))
    notes = list(routers.notes)
    if k > n_eligible:
        notes.append(f"asked for {k} items; the project has {n_eligible} non-gold items, so all of them go to people")
    k = max(0, min(k, n_eligible))
    # Labels already paid for (spent, calibration) come out of the budget first; then unjudged items.
    first = np.flatnonzero(eligible & (spent | unjudged))
    first = first[np.argsort(~spent[first], kind="stable")]
    k_left = max(0, k - int(in_slice.sum()) - len(first))
    rest = np.flatnonzero(eligible & ~spent & ~unjudged)
    sub = _unlabelled(ids[rest], X[rest], names, B[rest], count_names, is_gold[rest])
    used = strategy
    choose = strategies.chooser(strategy, routers, sub, seed)
    if choose is None:  # the strategy's router could not be fitted (too few labelled items): judge uncertainty
        used = "uncertainty"
        choose = strategies.chooser(used, routers, sub, seed)
    picked = rest[np.asarray(choose(min(k_left, len(rest))), int)]
    to_humans = np.zeros(n, bool)
    to_humans[first[: max(0, k - int(in_slice.sum()))]] = True
    to_humans[picked] = True
    to_humans |= spent  # a budget below what is already spent cannot take labels back
    route = np.where(is_gold | in_slice, Routing.BOTH, np.where(to_humans, human_route, Routing.JUDGE))

    score_strategy = "ppm" if used == "ppm_simulated" else used
    everything = _unlabelled(ids, X, names, B, count_names, is_gold)
    base = strategies.scores(score_strategy, routers, everything, seed)
    route_score = np.where(unjudged, np.nan, np.asarray(base, dtype=float))
    order = np.argsort(-np.where(eligible, np.nan_to_num(route_score, nan=np.inf), -np.inf), kind="stable")
    rank = np.empty(n, int)
    rank[order] = np.arange(1, n + 1)
    why = np.where(
        is_gold,
        "gold",
        np.where(
            in_slice,
            "calibration",
            np.where(
                spent,
                "spent",
                np.where(
                    to_humans,
                    np.where(unjudged, "unjudged", "budget"),
                    np.where(unjudged, "unjudged_over_budget", "judge"),
                ),
            ),
        ),
    )
    if (
        score_strategy in ("ppm", "ppm_quadratic")
        and getattr(routers, "ppm_linear" if score_strategy == "ppm" else "ppm_quadratic") is not None
    ):
        explained, reason_names = (
            _ppm_explained(routers.ppm_linear if score_strategy == "ppm" else routers.ppm_quadratic, B),
            count_names,
        )
    elif score_strategy == "judge_error" and routers.judge_error is not None:
        explained, reason_names = _judge_error_explained(routers.judge_error, X, names), names
    else:
        explained, reason_names = None, names
    route_score = np.where(unjudged, 1.0, route_score)
    timings["score_s"] = time.perf_counter() - t0 - timings["load_s"] - timings["fit_s"]

    # Measured curves on held-out splits of the slice + gold (the expensive part: a proxy reward
    # model per strategy, budget and seed).
    usable = int((data.reference != 0).sum())
    if usable >= MIN_CURVE_ITEMS:
        measured = strategies.measure_strategies(data, seeds=curve_seeds, n_mixes=n_mixes).to_json()
    else:
        measured = {
            "measured": False,
            "note": f"{usable} of the {int((in_slice | is_gold).sum())} calibration and gold items are pairwise "
            f"items with a reference (a gold answer, or a person's decisive label); measured curves need at "
            f"least {MIN_CURVE_ITEMS}. Label the slice's pairwise items (they are in people's queue), mark gold "
            "items, or grow the slice; binary and edit items do not count",
        }
    timings["curves_s"] = time.perf_counter() - t0 - sum(timings.values())
    predicted = None
    if routers.judge_error is not None:
        p_wrong = sim.judge_wrong_from_disagreement(routers.judge_error.predict(X), human_acc)
        predicted = (
            {
                s: sim.predicted_quality_curve(
                    np.argsort(-strategies.scores(s, routers, everything, seed)[eligible], kind="stable"),
                    p_wrong[eligible],
                    human_acc,
                )
                for s in ("judge_error", "random")
            }
            if eligible.any()
            else None
        )

    # One transaction: the queue sees the old routing or the new one, never a mix; the project row
    # lock serialises two routing runs of the same project (PostgreSQL; SQLite has one writer anyway).
    with transaction.atomic():
        lock_project(project)
        chosen_curve = [[b, v] for b, v in zip(measured.get("budgets", []), measured.get("mean", {}).get(strategy, []))]
        run = RoutingRun.objects.create(
            project=project,
            strategy=strategy,
            budget=min(1.0, k / n_eligible) if n_eligible else 0.0,
            curve=chosen_curve,
            created_by=user,
            counts={},
            model={},
        )
        reasons = _reasons(run.pk, used, why, rank, route_score, reason_names, explained)
        write_routes(ids.tolist(), route.tolist(), route_score.tolist(), reasons)
        timings["write_s"] = time.perf_counter() - t0 - sum(timings.values())
        timings["judge_signals_s"] = signals_s  # of load_s
        slice_stats = calibration.stats(project)
        counts = {
            "items": n,
            "human": int(to_humans.sum()),
            "judge": int((route == Routing.JUDGE).sum()),
            "gold": int(is_gold.sum()),
            "calibration": int(in_slice.sum()),
            "spent": int(spent.sum()),
            "unjudged": int(unjudged.sum()),
            "training_items": int(usable),
        }
        model = {
            "strategy_used": used,
            "routers": {
                "ppm": routers.ppm_linear.summary() if routers.ppm_linear else None,
                "ppm_quadratic": routers.ppm_quadratic.summary() if routers.ppm_quadratic else None,
                "judge_error": routers.judge_error.summary() if routers.judge_error else None,
            },
            "notes": notes,
            "measured_curves": measured,
            "predicted_curves": predicted,
            "calibration": {
                "size": slice_stats.size,
                "fraction": slice_stats.fraction,
                "labelled_by_both": slice_stats.labelled_by_both,
                "reference": slice_stats.reference,
                "human_accuracy": vars(slice_stats.human_accuracy),
                "judge_accuracy": vars(slice_stats.judge_accuracy),
            },
            "human_accuracy": round(human_acc, 4),
            "human_accuracy_source": human_acc_source,
            "human_route": human_route,
            "seed": seed,
            "timings": {k_: round(v, 3) for k_, v in timings.items()},
        }
        RoutingRun.objects.filter(pk=run.pk).update(counts=counts, model=model)
        project.human_budget = run.budget
        project.save(update_fields=["human_budget"])
    run.refresh_from_db()
    return run


@dataclass(frozen=True)
class Spend:
    """Human labelling spent so far against the budget of the latest routing run."""

    items: int  # non-gold items
    labelled: int  # of those, items with a human label
    routed_to_humans: int
    by_route: dict[str, int]
    budget_items: int
    budget: float  # the project's human budget, a fraction of `items`


def spend(project: Project) -> Spend:
    """Human labelling spent so far against the budget of the latest routing run."""
    items = Item.objects.filter(project=project, is_gold=False)
    total = items.count()
    labelled = items.filter(human_label_count__gt=0).count()
    routed = items.filter(routing__in=[Routing.HUMAN, Routing.BOTH]).count()
    by_route = dict(items.order_by().values_list("routing").annotate(n=Count("pk")))
    return Spend(
        items=total,
        labelled=labelled,
        routed_to_humans=routed,
        by_route=by_route,
        budget_items=round(project.human_budget * total),
        budget=project.human_budget,
    )
