"""Submitting a label: validate per kind (the kind's module, `annotate.kinds`), store once, close the lease, count the label.

Input is in *display* order: for a pairwise item, "left" is whatever the annotator saw on the
left. A preference of -3 means "left much better". It is stored in the item's canonical A/B
order, with `swapped` recording that B was shown on the left, so position bias stays measurable.

Idempotency: the form carries a client submission id. The same id again (double click, retried
request) returns the stored annotation; the same id with different content is refused.
"""

import math
import uuid
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from annotate import gold, queue_sql
from annotate.errors import ServiceError
from annotate.kinds import registry as kind_registry
from annotate.kinds.fields import Errors
from annotate.models import (
    Annotation,
    Assignment,
    AssignmentState,
)
from annotate.projects import lock_project

MAX_TIME_MS = 24 * 3600 * 1000


class SubmissionError(ServiceError):
    """The submission was refused (a 400); `errors` maps form fields to messages."""


class SubmissionConflict(SubmissionError):
    """The submission id was already used for a different label."""

    status = 409


class LeaseLost(SubmissionError):
    """The lease expired and the slot went to someone else: this item is gone for this annotator."""

    status = 409


class AmendRefused(SubmissionError):
    """The label can no longer be changed: the lease it was given under has ended."""

    status = 409


def clean_submission(item, project, swapped, data):
    """Model fields for an annotation from display-order input, or SubmissionError."""
    if not isinstance(data, dict):
        raise SubmissionError("a submission is a mapping of fields")
    errors: Errors = {}
    fields = kind_registry.get(item.kind).clean(item, project, swapped, data, errors)
    if errors:
        raise SubmissionError("; ".join(errors.values()), errors)
    return fields


def data_from_form(item, post):
    """Display-order submission data from an HTML form (a QueryDict)."""
    return kind_registry.get(item.kind).data_from_form(item, post)


def _same(annotation, fields):
    for name, value in fields.items():
        stored = getattr(annotation, name)
        if name == "failed_principles":
            stored, value = sorted(stored or []), sorted(value or [])
        if stored != value:
            return False
    return True


def _parse_id(submission_id):
    try:
        return uuid.UUID(str(submission_id))
    except (TypeError, ValueError):
        raise SubmissionError(
            "the form has no valid submission id; reload the item", {"submission_id": "invalid"}
        ) from None


def _replay(existing, assignment, fields):
    if existing.item_id != assignment.item_id or not _same(existing, fields):
        raise SubmissionConflict(
            "this submission id was already used for a different label; reload the item to label it again",
            {"submission_id": "conflict"},
        )
    return existing, False


def submit(assignment, data, submission_id, time_spent_ms=None, now=None):
    """Store the label for a leased assignment. Returns (annotation, created)."""
    now = now or timezone.now()
    sid = _parse_id(submission_id)
    item = assignment.item
    project = item.project
    fields = clean_submission(item, project, assignment.swapped, data)
    spent = _time_spent(time_spent_ms, assignment, now)
    # A replay of this submission is recognised under the item lock (same assignment) or by the
    # unique (annotator, submission_id) constraint (the id was used elsewhere), so the common
    # path costs no extra query.
    try:
        annotation = _store(assignment, item, project, fields, sid, spent, now)
    except IntegrityError:
        existing = Annotation.objects.filter(annotator_id=assignment.annotator_id, submission_id=sid).first()
        if existing is not None:
            return _replay(existing, assignment, fields)
        raise SubmissionError("you already labelled this item") from None
    if isinstance(annotation, tuple):  # a replay found under the lock
        return annotation
    assignment.state, assignment.annotation, assignment.draft = AssignmentState.SUBMITTED, annotation, {}
    return annotation, True


@transaction.atomic
def _store(assignment, item, project, fields, sid, spent, now):
    if not connection.features.has_select_for_update:
        lock_project(project)  # SQLite: the database write lock (PostgreSQL locks the item row below)
    # The assignment as it is now, with its item row locked (and its fresh label count).
    current, label_count = queue_sql.locked_for_submit(assignment.pk)
    if current.state == AssignmentState.SUBMITTED:
        stored = Annotation.objects.filter(pk=current.annotation_id).first()
        if stored is not None and stored.submission_id == sid:
            return _replay(stored, assignment, fields)
        raise SubmissionError("you already labelled this item")
    if current.state == AssignmentState.SKIPPED:
        raise SubmissionError("you skipped this item; it can no longer be labelled")
    if not item.is_gold:
        _check_capacity(item.pk, label_count, current, project, now)
    details = {}
    if item.is_gold:
        probe = Annotation(kind=item.kind, **fields)
        details["gold_correct"] = gold.is_correct(item, probe)
    annotation = Annotation(
        item=item,
        annotator_id=assignment.annotator_id,
        kind=item.kind,
        submission_id=sid,
        time_spent_ms=spent,
        details=details,
        **fields,
    )
    annotation.save()  # unique (item, annotator): an IntegrityError rolls the whole block back
    queue_sql.close_with_label(assignment.pk, item.pk, annotation.pk, now)
    return annotation


def _check_capacity(item_id, label_count, assignment, project, now):
    """A live lease always has its slot. An expired one keeps it only if nobody took it since."""
    if assignment.leased_until > now:
        return
    others = (
        Assignment.objects.filter(item_id=item_id, state=AssignmentState.LEASED, leased_until__gt=now)
        .exclude(pk=assignment.pk)
        .aggregate(n=Count("id"))["n"]
    )
    if label_count + others >= project.overlap:
        raise LeaseLost("your lease on this item expired and others took it; your label was not stored")


def _time_spent(value, assignment, now):
    # Telemetry, not the label: a value that is not a finite number ("inf", 1e400, garbage) falls
    # back to the server's clock rather than costing the annotator their label.
    if value not in (None, "") and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if math.isfinite(number):
            return max(0, min(int(number), MAX_TIME_MS))
    elapsed = now - assignment.created_at if assignment.created_at else timedelta(0)
    return max(0, min(int(elapsed.total_seconds() * 1000), MAX_TIME_MS))


def can_amend(assignment, now=None):
    """A submitted label stays the annotator's to change while the lease it was given under holds."""
    now = now or timezone.now()
    return (
        assignment.state == AssignmentState.SUBMITTED
        and assignment.annotation_id is not None
        and assignment.leased_until > now
    )


@transaction.atomic
def amend(assignment, data, now=None):
    """Change the annotator's own submitted label in place: the same Annotation row (same
    submission id), so the item still counts one label from this annotator. Returns it."""
    now = now or timezone.now()
    current = Assignment.objects.select_for_update(of=("self",)).get(pk=assignment.pk)
    if current.annotation_id is None or not can_amend(current, now):
        raise AmendRefused("the lease on this item has ended, so your label can no longer be changed")
    item = assignment.item
    fields = clean_submission(item, item.project, current.swapped, data)
    annotation = Annotation.objects.select_related("item__response_a").get(pk=current.annotation_id)
    for name, value in fields.items():
        setattr(annotation, name, value)
    details = dict(annotation.details or {})
    if item.is_gold:
        details["gold_correct"] = gold.is_correct(item, annotation)
    details["amended_at"] = now.isoformat()
    annotation.details = details
    annotation.save()
    return annotation
