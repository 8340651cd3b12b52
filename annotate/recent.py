"""An annotator's recently submitted items in a project, and which of them they may still amend.

A label can be amended while the lease it was given under holds (`submit.can_amend`); after
that it is read-only here. Loaded on demand (the panel is closed by default), never on the
next/submit path.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from annotate.models import (
    PREFERENCE_LABELS,
    Annotation,
    Annotator,
    Assignment,
    AssignmentState,
    FeedbackKind,
    Project,
    Thumbs,
)

RECENT_LIMIT = 10


@dataclass(frozen=True)
class RecentLabel:
    assignment_id: int
    item_id: int
    kind: str
    prompt: str
    summary: str  # the label as the annotator gave it, in the order they saw it
    submitted_at: datetime
    amendable_until: datetime | None  # None: read-only


def summary(annotation: Annotation, swapped: bool) -> str:
    """A short description of a label, in display order (A is whatever was on the left)."""
    if annotation.kind == FeedbackKind.PAIRWISE and annotation.preference is not None:
        return PREFERENCE_LABELS[-annotation.preference if swapped else annotation.preference]
    if annotation.kind == FeedbackKind.BINARY and annotation.thumbs:
        failed = f" · fails {len(annotation.failed_principles)}" if annotation.failed_principles else ""
        return f"{Thumbs(annotation.thumbs).label}{failed}"
    if annotation.kind == FeedbackKind.EDIT:
        if not annotation.edit_distance:
            return "Accepted as is"
        return f"Edited (distance {annotation.edit_distance:.2f})"
    return ""


def recent_labels(
    project: Project, annotator: Annotator, limit: int = RECENT_LIMIT, now: datetime | None = None
) -> list[RecentLabel]:
    """The annotator's last `limit` submitted items in this project, newest first."""
    now = now or timezone.now()
    rows = (
        Assignment.objects.filter(
            annotator=annotator, item__project=project, state=AssignmentState.SUBMITTED, annotation__isnull=False
        )
        .select_related("item__prompt", "annotation")
        .order_by("-updated_at", "-id")[:limit]
    )
    labels = []
    for a in rows:
        annotation = a.annotation
        assert annotation is not None  # annotation__isnull=False above
        labels.append(
            RecentLabel(
                assignment_id=a.pk,
                item_id=a.item_id,
                kind=a.item.kind,
                prompt=a.item.prompt.text,
                summary=summary(annotation, a.swapped),
                submitted_at=annotation.created_at,
                amendable_until=a.leased_until if a.leased_until > now else None,
            )
        )
    return labels


def form_values(annotation: Annotation, swapped: bool) -> dict[str, Any]:
    """The workspace form's fields for a stored label, in display order, to amend it."""
    if annotation.kind == FeedbackKind.PAIRWISE:
        preference = annotation.preference
        assert preference is not None  # a person's pairwise label has one (annotation_has_its_kind_label)
        values = {
            "preference": str(-preference if swapped else preference),
            "rationale": annotation.rationale,
        }
        for name, sides in (annotation.aspect_ratings or {}).items():
            shown = {"a": "right", "b": "left"} if swapped else {"a": "left", "b": "right"}
            for side, rating in (sides or {}).items():
                values[f"aspect:{name}:{shown[side]}"] = str(rating)
        return values
    if annotation.kind == FeedbackKind.BINARY:
        return {
            "thumbs": annotation.thumbs,
            "failed_principles": list(annotation.failed_principles or []),
            "reason": annotation.reason,
        }
    return {"edited_text": annotation.edited_text or ""}
