"""An annotator's recently submitted items in a project, and which of them they may still amend.

A label can be amended while the lease it was given under holds (`submit.can_amend`); after
that it is read-only here. Loaded on demand (the panel is closed by default), never on the
next/submit path.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from annotate.kinds import registry as kind_registry
from annotate.models import Annotation, Annotator, Assignment, AssignmentState, Project

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
    return kind_registry.get(annotation.kind).summary(annotation, swapped)


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
    return kind_registry.get(annotation.kind).form_values(annotation, swapped)
