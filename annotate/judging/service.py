"""Judging items: build the requests (pairs in both orders), ask the backend, parse, and store one
`Annotation` per item by the judge's `Annotator`. Several judges on a project form a jury; each
stores its own labels, and their disagreement is a routing feature.

Idempotent: items the judge already labelled (parsed or not) are skipped, and submission ids are
derived from (judge, item), so a retried batch cannot store a second label.
"""

import uuid

from django.db import transaction

from annotate.judging import kind_judges, reward_training
from annotate.judging.backends import backend_for, is_scoring
from annotate.kinds import registry as kind_registry
from annotate.kinds.pairwise import SINGLE_ORDER_CONFIDENCE as SINGLE_ORDER_CONFIDENCE
from annotate.kinds.pairwise import combine_swap as combine_swap
from annotate.models import Annotation, AnnotationStatus, Annotator, AnnotatorKind, FeedbackKind, Item
from workers.ml.reward_heads import verdict_from_margin

SUBMISSION_NAMESPACE = uuid.UUID("0f1d9c3e-6a57-4c1e-9d7b-3b0e2a4c5d61")


def judge_annotator(judge):
    annotator, _ = Annotator.objects.get_or_create(
        judge=judge, defaults={"kind": AnnotatorKind.JUDGE, "name": f"judge:{judge.name}"}
    )
    return annotator


def pending_items(judge, project, item_ids=None):
    """The project's items this judge has not labelled yet, in id order."""
    qs = Item.objects.filter(project=project).exclude(annotations__annotator__judge=judge)
    if item_ids is not None:
        qs = qs.filter(pk__in=item_ids)
    kinds = list(project.feedback_kinds or kind_registry.keys())
    if is_scoring(judge):
        # A reward model compares two responses; and it never labels the items it was trained on.
        kinds = [k for k in kinds if k == FeedbackKind.PAIRWISE]
        qs = qs.exclude(pk__in=reward_training.trained_on(judge))
    return qs.filter(kind__in=kinds).order_by("pk")


def requests_for(item, judge):
    return kind_judges.judge_for(item.kind).requests(item, judge.prompt_templates or {})


def build_annotation(item, annotator, replies):
    """An unsaved Annotation from the replies to `requests_for(item)` (same order)."""
    label = kind_judges.judge_for(item.kind).label(item, replies)
    return Annotation(
        item=item,
        annotator=annotator,
        kind=item.kind,
        submission_id=uuid.uuid5(SUBMISSION_NAMESPACE, f"{annotator.pk}:{item.pk}"),
        **label,
    )


def build_scored_annotation(item, annotator, scores):
    """An unsaved Annotation from a reward model's scores of both responses: direction and strength
    from the margin r(B) − r(A), confidence |2σ(margin) − 1| (see workers.ml.reward_heads)."""
    verdict = verdict_from_margin(scores.margin)
    return Annotation(
        item=item,
        annotator=annotator,
        kind=item.kind,
        submission_id=uuid.uuid5(SUBMISSION_NAMESPACE, f"{annotator.pk}:{item.pk}"),
        preference=verdict.preference,
        confidence=verdict.confidence,
        details={
            "scores": {"a": round(scores.score_a, 5), "b": round(scores.score_b, 5)},
            "margin": round(scores.margin, 5),
            "p_b_better": verdict.p_b_better,
            "source": "reward_model",
        },
    )


def _store(annotations):
    """Save one batch; a label that already exists (a concurrent or retried run) is kept, not doubled."""
    if not annotations:
        return 0
    annotator = annotations[0].annotator
    existing = set(
        Annotation.objects.filter(annotator=annotator, item__in=[a.item for a in annotations]).values_list(
            "item_id", flat=True
        )
    )
    fresh = [a for a in annotations if a.item.pk not in existing]
    with transaction.atomic():
        for a in fresh:  # bulk_create skips Annotation.save: derive what the kind derives (an edit's diff)
            if a.status == AnnotationStatus.OK:
                spec = kind_registry.get(a.kind)
                derived = spec.derived_fields(a.item, {f: getattr(a, f) for f in spec.label_fields})
                for name, value in derived.items():
                    setattr(a, name, value)
        Annotation.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def judge_items(judge, items, backend=None, progress=None, batch_items=None):
    """Judge `items` (a queryset or list) and store the labels. `progress(done, total)` is called per
    batch (it may raise RunCancelled). Returns counts by status."""
    owned = backend is None
    backend = backend or backend_for(judge)
    try:
        return _judge_batches(judge, items, backend, progress, batch_items)
    finally:
        if owned and hasattr(backend, "close"):
            backend.close()


def _judge_batches(judge, items, backend, progress, batch_items):
    annotator = judge_annotator(judge)
    items = list(
        items.select_related("prompt", "response_a", "response_b", "project")
        if hasattr(items, "select_related")
        else items
    )
    batch_items = batch_items or max(1, int((judge.parameters or {}).get("batch_size", 8)))
    counts = {"ok": 0, "unparsed": 0, "skipped": 0, "swap_inconsistent": 0}
    for start in range(0, len(items), batch_items):
        batch = items[start : start + batch_items]
        if hasattr(backend, "score_pairs"):
            annotations = [
                build_scored_annotation(item, annotator, s) for item, s in zip(batch, backend.score_pairs(batch))
            ]
        else:
            requests = [r for item in batch for r in requests_for(item, judge)]
            replies = backend.generate([r.messages for r in requests])
            by_item: dict[int, list[str]] = {}
            for request, reply in zip(requests, replies):
                by_item.setdefault(request.item.pk, []).append(reply)
            annotations = [build_annotation(item, annotator, by_item[item.pk]) for item in batch]
        stored = _store(annotations)
        counts["skipped"] += len(annotations) - stored
        for a in annotations:
            counts[a.status] += 1
            counts["swap_inconsistent"] += a.details.get("swap_consistent") is False
        if progress:
            progress(min(start + batch_items, len(items)), len(items))
    return counts


def judge_project(project, judges=None, item_ids=None, progress=None, backends=None):
    """Every judge of the project (or the given ones) labels the items it has not labelled yet."""
    judges = list(judges if judges is not None else project.judges.all())
    judges = [j for j in judges if (j.parameters or {}).get("judge", True)]  # {"judge": false}: a tagger only
    plan = [
        (
            judge,
            list(
                pending_items(judge, project, item_ids).select_related("prompt", "response_a", "response_b", "project")
            ),
        )
        for judge in judges
    ]
    total = sum(len(items) for _, items in plan)
    done, results = 0, {}
    if progress:
        progress(0, total)
    for judge, items in plan:
        offset = done

        def tick(n, _total, offset=offset):
            if progress:
                progress(offset + n, total)

        backend = (backends or {}).get(judge.pk)
        results[judge.name] = (
            judge_items(judge, items, backend=backend, progress=tick)
            if items
            else {"ok": 0, "unparsed": 0, "skipped": 0, "swap_inconsistent": 0}
        )
        done += len(items)
    return {"judges": results, "items": total}
