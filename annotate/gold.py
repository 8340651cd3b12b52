"""Gold items: items with a known answer, mixed into the queue to measure each annotator.

A pairwise answer is compared by direction (A better / tie / B better), since the strength on
the 7-point scale is a matter of taste; a binary answer by thumbs. Edit items have no gold.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotate.models import (
    PREFERENCE_LABELS,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    Annotation,
    AnnotatorKind,
    FeedbackKind,
    Item,
    Thumbs,
)


def clean_gold_answer(item, answer):
    """The stored form of a gold answer for this item's kind, or ValidationError."""
    if item.kind == FeedbackKind.PAIRWISE:
        try:
            value = int((answer or {}).get("preference"))
        except (TypeError, ValueError):
            raise ValidationError(
                "a pairwise gold answer is a preference from -3 (A much better) to 3 (B much better)"
            ) from None
        if not PREFERENCE_MIN <= value <= PREFERENCE_MAX:
            raise ValidationError("a pairwise gold answer is a preference from -3 (A much better) to 3 (B much better)")
        return {"preference": value}
    if item.kind == FeedbackKind.BINARY:
        thumbs = (answer or {}).get("thumbs")
        if thumbs not in Thumbs.values:
            raise ValidationError('a binary gold answer is thumbs "up" or "down"')
        return {"thumbs": thumbs}
    raise ValidationError("edit items cannot be gold: there is no single right edit")


def mark_gold(item, answer):
    item.gold_answer = clean_gold_answer(item, answer)
    item.is_gold = True
    item.save(update_fields=["is_gold", "gold_answer"])
    return item


def unmark_gold(item):
    item.is_gold = False
    item.gold_answer = None
    item.save(update_fields=["is_gold", "gold_answer"])
    return item


def _direction(value):
    return (value > 0) - (value < 0)


def is_correct(item, annotation):
    """Whether an annotation agrees with the item's gold answer; None when not comparable."""
    answer = item.gold_answer or {}
    if item.kind == FeedbackKind.PAIRWISE and annotation.preference is not None and "preference" in answer:
        return _direction(annotation.preference) == _direction(answer["preference"])
    if item.kind == FeedbackKind.BINARY and annotation.thumbs and "thumbs" in answer:
        return annotation.thumbs == answer["thumbs"]
    return None


@dataclass(frozen=True)
class GoldFeedback:
    """What an annotator is told right after labelling a gold item, in the order they saw it."""

    correct: bool
    answer: str  # the gold answer as shown to them ("A better", "Thumbs down")
    rule: str  # what counts as a match


def feedback(item, annotation, swapped):
    """Feedback on a gold item's label, or None when the item is not gold or not comparable.

    `swapped`: B was shown on the left, so the gold answer is mirrored into what the annotator saw."""
    if not item.is_gold:
        return None
    verdict = is_correct(item, annotation)
    if verdict is None:
        return None
    answer = item.gold_answer or {}
    if item.kind == FeedbackKind.PAIRWISE:
        shown = -answer["preference"] if swapped else answer["preference"]
        return GoldFeedback(verdict, PREFERENCE_LABELS[shown], "the direction counts (A, tie or B), not the strength")
    return GoldFeedback(verdict, Thumbs(answer["thumbs"]).label, "the thumbs must match")


def gold_accuracy(project, kinds=(AnnotatorKind.HUMAN,)):
    """Per annotator: gold items answered, how many right, accuracy (None before the first).

    Computed from the annotations each time, so a corrected gold answer re-scores everyone.
    """
    rows = (
        Annotation.objects.filter(item__project=project, item__is_gold=True, annotator__kind__in=kinds)
        .select_related("item", "annotator")
        .only("preference", "thumbs", "item__kind", "item__gold_answer", "annotator__name", "annotator__kind")
    )
    stats = defaultdict(lambda: {"answered": 0, "correct": 0})
    names = {}
    for annotation in rows:
        verdict = is_correct(annotation.item, annotation)
        if verdict is None:
            continue
        s = stats[annotation.annotator_id]
        names[annotation.annotator_id] = annotation.annotator.name
        s["answered"] += 1
        s["correct"] += int(verdict)
    return sorted(
        (
            {
                "annotator_id": aid,
                "annotator": names[aid],
                "answered": s["answered"],
                "correct": s["correct"],
                "accuracy": s["correct"] / s["answered"],
            }
            for aid, s in stats.items()
        ),
        key=lambda r: (r["accuracy"], r["annotator"]),
    )


def gold_items(project):
    return Item.objects.filter(project=project, is_gold=True)
