"""Annotator quality: accuracy on gold items and a Dawid–Skene confusion matrix per annotator
(crowd-kit), with flags for annotators below a threshold.

Dawid–Skene runs on the collapsed labels (pairwise: A/B direction, ties left out since they say
nothing about which side is right; binary: up/down). Gold answers are passed to it as known
truths, so a few gold items anchor the confusion estimates.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from annotate.models import FeedbackKind, Item, Project
from curation.agreement import position_bias
from curation.labels import direction, label_rows

GOLD_THRESHOLD = 0.7
DS_THRESHOLD = 0.65
MIN_GOLD = 5
MIN_LABELS = 10


def gold_answers(project: Project) -> dict[int, int]:
    """{item_id: direction} for gold items (pairwise preference or thumbs)."""
    out = {}
    for item_id, kind, answer in Item.objects.filter(project=project, is_gold=True).values_list(
        "id", "kind", "gold_answer"
    ):
        answer = answer or {}
        d = direction(kind, answer.get("preference"), answer.get("thumbs", ""))
        if d is not None:
            out[item_id] = d
    return out


def gold_accuracy(project: Project, rows: list[dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """{annotator_id: {"n", "correct", "accuracy"}} on gold items (a tie must be matched by a tie)."""
    gold = gold_answers(project)
    stats: defaultdict[int, dict[str, int]] = defaultdict(lambda: {"n": 0, "correct": 0})
    for r in rows if rows is not None else label_rows(project, item_ids=gold.keys()):
        if r["item_id"] in gold and r["direction"] is not None:
            s = stats[r["annotator_id"]]
            s["n"] += 1
            s["correct"] += r["direction"] == gold[r["item_id"]]
    return {a: {**s, "accuracy": s["correct"] / s["n"]} for a, s in stats.items()}


@dataclass
class DawidSkeneResult:
    posteriors: dict  # {item_id: {label: probability}}
    accuracy: dict  # {annotator_id: Σ_c prior_c · P(says c | truth c)}
    confusion: dict  # {annotator_id: {truth: {said: p}}}
    priors: dict
    n_labels: dict


def dawid_skene(
    label_table: list[tuple[int, int, int]], gold: dict[int, int] | None = None, n_iter: int = 100
) -> DawidSkeneResult | None:
    """Fit crowd-kit's DawidSkene on [(item_id, annotator_id, label), ...] with labels ±1."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    df = pd.DataFrame(label_table, columns=["task", "worker", "label"]).drop_duplicates(["task", "worker"])
    if df.empty or df["label"].nunique() < 2:
        return None
    true_labels = None
    if gold:
        known = {t: g for t, g in gold.items() if t in set(df["task"]) and g in set(df["label"])}
        true_labels = pd.Series(known) if known else None
    model = (
        DawidSkene(n_iter=n_iter).fit(df, true_labels=true_labels)
        if true_labels is not None
        else DawidSkene(n_iter=n_iter).fit(df)
    )
    fitted_priors, fitted_errors, fitted_probas = model.priors_, model.errors_, model.probas_
    assert fitted_priors is not None and fitted_errors is not None and fitted_probas is not None  # set by fit
    classes = list(fitted_priors.index)
    priors = {c: float(fitted_priors[c]) for c in classes}
    confusion: dict[int, dict[int, dict[int, float]]] = {}
    accuracy: dict[int, float] = {}
    for worker in df["worker"].unique():
        errors = fitted_errors.loc[worker]
        confusion[worker] = {
            t: {s: float(errors.loc[s, t]) if s in errors.index else 0.0 for s in classes} for t in classes
        }
        accuracy[worker] = sum(priors[c] * confusion[worker][c][c] for c in classes)
    posteriors = {t: {c: float(p) for c, p in row.items()} for t, row in fitted_probas.iterrows()}
    return DawidSkeneResult(posteriors, accuracy, confusion, priors, df.groupby("worker").size().to_dict())


def ds_table(rows: list[dict[str, Any]], kind: str) -> list[tuple[int, int, int]]:
    """(item, annotator, ±1) triples of one kind; pairwise ties are left out."""
    return [(r["item_id"], r["annotator_id"], r["direction"]) for r in rows if r["kind"] == kind and r["direction"]]


def annotator_quality(
    project: Project,
    gold_threshold: float = GOLD_THRESHOLD,
    ds_threshold: float = DS_THRESHOLD,
    min_gold: int = MIN_GOLD,
    min_labels: int = MIN_LABELS,
) -> list[dict[str, Any]]:
    """One row per annotator: labels, gold accuracy, DS accuracy and confusion, position bias, flags."""
    rows = list(label_rows(project))
    gold = gold_answers(project)
    gold_acc = gold_accuracy(project, rows=rows)
    ds = {kind: dawid_skene(ds_table(rows, kind), gold) for kind in (FeedbackKind.PAIRWISE, FeedbackKind.BINARY)}
    bias = {b["annotator_id"]: b for b in position_bias(project, rows=rows)}
    people: dict[int, dict[str, Any]] = {}
    for r in rows:
        p = people.setdefault(
            r["annotator_id"],
            {
                "annotator_id": r["annotator_id"],
                "name": r["annotator_name"],
                "kind": r["annotator_kind"],
                "labels": 0,
                "kinds": defaultdict(int),
            },
        )
        p["labels"] += 1
        p["kinds"][r["kind"]] += 1
    out = []
    for annotator_id, p in people.items():
        row = {
            **p,
            "kinds": dict(p["kinds"]),
            "gold": gold_acc.get(annotator_id),
            "ds": {},
            "position_bias": bias.get(annotator_id),
            "flags": [],
        }
        for kind, result in ds.items():
            if result and annotator_id in result.accuracy:
                row["ds"][kind] = {
                    "accuracy": result.accuracy[annotator_id],
                    "confusion": result.confusion[annotator_id],
                    "labels": result.n_labels[annotator_id],
                }
        g = row["gold"]
        if g and g["n"] >= min_gold and g["accuracy"] < gold_threshold:
            row["flags"].append(f"gold accuracy {g['accuracy']:.0%} < {gold_threshold:.0%}")
        for kind, d in row["ds"].items():
            if d["labels"] >= min_labels and d["accuracy"] < ds_threshold:
                row["flags"].append(f"Dawid–Skene {kind} accuracy {d['accuracy']:.0%} < {ds_threshold:.0%}")
        b = row["position_bias"]
        if b and b["decisive"] >= min_labels and b["p_value"] < 0.01:
            row["flags"].append(f"position bias: left wins {b['left_rate']:.0%} (p={b['p_value']:.3f})")
        row["flagged"] = bool(row["flags"])
        out.append(row)
    return sorted(out, key=lambda r: (not r["flagged"], r["kind"], r["name"]))
