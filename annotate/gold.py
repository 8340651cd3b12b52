"""Gold items: items with a known answer, mixed into the queue to measure each annotator.

Each kind says how its answer is stored and matched (`FeedbackKindSpec.clean_gold_answer`,
`gold_correct`): a pairwise answer by direction (the strength on the 7-point scale is a matter of
taste), a binary one by thumbs, a ranking by its top response. Edit items have no gold.
"""

from collections import defaultdict
from dataclasses import dataclass

from annotate.kinds import registry as kind_registry
from annotate.models import Annotation, AnnotatorKind, Item

# Every kind's label fields, so matching a label against its gold answer loads nothing more.
LABEL_FIELDS = sorted({f for spec in kind_registry.all_kinds() for f in spec.label_fields})


def clean_gold_answer(item, answer):
    """The stored form of a gold answer for this item's kind, or ValidationError."""
    return kind_registry.get(item.kind).clean_gold_answer(item, answer)


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


def is_correct(item, annotation):
    """Whether an annotation agrees with the item's gold answer; None when not comparable."""
    return kind_registry.get(item.kind).gold_correct(item, annotation)


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
    shown = kind_registry.get(item.kind).gold_verdict(item, swapped)
    if shown is None:
        return None
    return GoldFeedback(verdict, shown.answer, shown.rule)


def gold_accuracy(project, kinds=(AnnotatorKind.HUMAN,)):
    """Per annotator: gold items answered, how many right, accuracy (None before the first).

    Computed from the annotations each time, so a corrected gold answer re-scores everyone.
    """
    rows = (
        Annotation.objects.filter(item__project=project, item__is_gold=True, annotator__kind__in=kinds)
        .select_related("item", "annotator")
        .only(*LABEL_FIELDS, "item__kind", "item__gold_answer", "annotator__name", "annotator__kind")
    )
    stats: defaultdict[int, dict[str, int]] = defaultdict(lambda: {"answered": 0, "correct": 0})
    names: dict[int, str] = {}
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
