"""Training an embedding reward-model judge on an explicit slice of labelled items.

The slice is named by its items (their people's labels, or gold answers, are the training labels),
recorded on the judge, and excluded from what the judge labels afterwards: a judge never grades the
items it learned from, so its labels elsewhere are honest out-of-sample predictions.
"""

from dataclasses import dataclass

import numpy as np

from annotate.models import Annotation, AnnotationStatus, FeedbackKind, Item, human_label_q
from workers.ml import embeddings
from workers.ml.reward_heads import fit_bradley_terry, pair_deltas

MIN_TRAINING_PAIRS = 10


@dataclass
class TrainedJudge:
    judge_id: int
    training_items: int
    labelled_pairs: int
    train_accuracy: float | None


def item_ids(value) -> list[int]:
    """The ids in a JSON value meant to list item ids; anything else (not a list, not integers) is none."""
    return [pk for pk in value if isinstance(pk, int) and not isinstance(pk, bool)] if isinstance(value, list) else []


def trained_on(judge) -> list[int]:
    """The items the judge was trained on, as `train_embedding_judge` records them in its free-form
    parameters."""
    return item_ids(judge.parameters.get("training_items") if isinstance(judge.parameters, dict) else None)


def slice_directions(item_ids):
    """{item_id: ±1}: the gold answer's direction, else the sign of the people's summed preference."""
    out: dict[int, int] = {}
    for pk, gold in Item.objects.filter(pk__in=item_ids, is_gold=True, kind=FeedbackKind.PAIRWISE).values_list(
        "pk", "gold_answer"
    ):
        pref = (gold or {}).get("preference")
        if pref:
            out[pk] = int(np.sign(pref))
    sums: dict[int, int] = {}
    rows = Annotation.objects.filter(
        human_label_q(),
        item_id__in=item_ids,
        kind=FeedbackKind.PAIRWISE,
        status=AnnotationStatus.OK,
        preference__isnull=False,
    ).values_list("item_id", "preference")
    for pk, pref in rows:
        if pref is not None:  # always, by the filter; the column is nullable
            sums[pk] = sums.get(pk, 0) + int(np.sign(pref))
    for pk, total in sums.items():
        if pk not in out and total:
            out[pk] = int(np.sign(total))
    return out


def train_embedding_judge(judge, item_ids, C=1.0):
    """Fit the judge's Bradley–Terry head on the human (or gold) labels of `item_ids` and store it."""
    if judge.backend != "embedding_rm":
        raise ValueError(f"judge {judge.name!r} is not an embedding reward model")
    directions = slice_directions(list(item_ids))
    if len(directions) < MIN_TRAINING_PAIRS:
        raise ValueError(
            f"only {len(directions)} of the chosen items have a human or gold label; "
            f"an embedding reward model needs at least {MIN_TRAINING_PAIRS}"
        )
    items = list(
        Item.objects.filter(pk__in=list(directions), response_b__isnull=False)
        .select_related("prompt", "response_a", "response_b")
        .order_by("pk")
    )
    delta = pair_deltas(
        embeddings.embed,
        [i.prompt.text for i in items],
        [i.response_a.text for i in items],
        [i.response_b.text for i in items if i.response_b is not None],  # all of them, by the filter
    )
    labels = np.array([directions[i.pk] for i in items])
    head = fit_bradley_terry(delta, labels, C=C)
    train_acc = head.accuracy(delta, labels)
    judge.parameters = {
        **(judge.parameters or {}),
        "bt_head": head.to_json(),
        "training_items": sorted({int(pk) for pk in item_ids}),
    }
    judge.save(update_fields=["parameters"])
    return TrainedJudge(judge.pk, len(set(item_ids)), len(items), train_acc)


def default_training_slice(project, limit=500, seed=0):
    """Up to `limit` random pairwise items of the project with a human or gold label, outside the
    calibration slice (which needs the judge's labels, so the judge must not train on it)."""
    labelled = Annotation.objects.filter(human_label_q(), item__project=project, status=AnnotationStatus.OK).values(
        "item_id"
    )
    qs = Item.objects.filter(project=project, kind=FeedbackKind.PAIRWISE, calibration=False)
    ids = np.array(
        sorted(
            set(qs.filter(pk__in=labelled).values_list("pk", flat=True))
            | set(qs.filter(is_gold=True).values_list("pk", flat=True))
        ),
        dtype=np.int64,
    )
    if len(ids) > limit:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size=limit, replace=False))
    return ids.tolist()
