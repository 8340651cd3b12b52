"""The judge-bias audit, stored: a worker computes it (curation.bias.audit, seconds of bootstrap on a
large project) and keeps it as a BiasAuditRun row; the audit page only reads the latest row. No web
request computes an audit.

The row holds the audit as JSON (Estimates as {value, low, high, n}; a non-finite number as null, as
jsonb takes no NaN) and the stamp of what it was computed on (bias.audit_stamp), so the page can say
"labels changed since" by comparing stamps in a few aggregate queries. A retried run replaces its own
earlier row, never another run's.
"""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.db import transaction

from curation.bias import BiasAudit, Estimate, LabellerBias, audit, audit_stamp
from curation.models import BiasAuditRun


@dataclass
class StoredAudit:
    """The latest stored audit of a project, ready for the page."""

    row: BiasAuditRun
    audit: BiasAudit
    current: bool  # False when labels, groups, families or error tags changed since it was computed


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return _clean(value.item())
    return value


def to_json(result: BiasAudit) -> dict:
    return _clean(asdict(result))


def _estimate(data) -> Estimate | None:
    return Estimate(**data) if data else None


def from_json(data: dict) -> BiasAudit:
    rows = [
        LabellerBias(
            **{
                **row,
                "length": _estimate(row["length"]) or Estimate(None),
                "self_preference": _estimate(row.get("self_preference")),
                "properties": {p: _estimate(e) for p, e in (row.get("properties") or {}).items()},
            }
        )
        for row in data.get("rows", [])
    ]
    return BiasAudit(
        rows=rows,
        properties=tuple(data.get("properties", ())),
        items=data.get("items", 0),
        errors_note=data.get("errors_note", ""),
    )


def compute(project, task_run=None, progress: Callable[[int, int], None] | None = None) -> BiasAuditRun:
    """Compute the project's audit and store it (the worker's service)."""
    stamp = audit_stamp(project)  # taken first: labels arriving during the run make it out of date
    result = audit(project, progress=progress)
    with transaction.atomic():
        if task_run is not None:  # a retried task replaces its own earlier result
            BiasAuditRun.objects.filter(project=project, task_run=task_run).delete()
        return BiasAuditRun.objects.create(project=project, task_run=task_run, stamp=stamp, result=to_json(result))


def latest(project) -> StoredAudit | None:
    """The last completed audit, or None before the first run; reads, never computes."""
    row = BiasAuditRun.objects.filter(project=project).first()
    if row is None:
        return None
    return StoredAudit(row=row, audit=from_json(row.result), current=row.stamp == audit_stamp(project))
