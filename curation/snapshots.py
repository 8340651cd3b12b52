"""Freezing a curated view into an immutable, versioned snapshot.

A snapshot copies everything a training job needs into `SnapshotRow.data` (the contract is in
curation/formats.py), so later labels, actions or deleted items never change it; new labels go
into the next version. Train/test is split by prompt: a prompt's (or its near-duplicate group's)
hash decides its side, so no prompt is on both sides and the split is stable across versions.
"""

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max

from annotate.errors import Invalid
from annotate.kinds import registry as kind_registry
from annotate.kinds.snapshot import SnapshotInput
from annotate.models import Annotation, FeedbackKind, Project
from annotate.projects import lock_project
from curation.actions import Actor, CuratedItem, CurationError, iter_curated, last_action_id, validate_filters
from curation.formats import FORMATS
from curation.labels import pseudonym
from curation.models import NoiseRun, Snapshot, SnapshotRow, Split
from curation.pluralism import SIDE_MARGIN, group_members, latest_run
from workers.models import Rationale

BULK_SIZE = 2000


def split_of(group_hash: str, test_fraction: float) -> str:
    """Deterministic side for a prompt group: the same prompt lands on the same side in every snapshot."""
    h = int(hashlib.sha256(f"split:{group_hash}".encode()).hexdigest()[:15], 16) / 16**15
    return Split.TEST if h < test_fraction else Split.TRAIN


def _latest_rationales(item_ids: list[int]) -> dict[int, str]:
    latest: dict[int, str] = {}
    for item_id, text in (
        Rationale.objects.filter(item_id__in=item_ids)
        .order_by("item_id", "-created_at", "-id")
        .values_list("item_id", "text")
    ):
        latest.setdefault(item_id, text)
    return latest


def individual_labels(c: CuratedItem) -> list[dict[str, Any]]:
    """Every label of the item with a preference (people's and judges' pairwise labels), one entry
    each, pseudonymised; the preference as given (positive prefers B; the kind turns it to its row's orientation)."""
    return [
        {
            "annotator": pseudonym(r["annotator_id"]),
            "annotator_kind": r["annotator_kind"],
            "preference": r["preference"],
        }
        for r in c.agg.all_labels
        if r.get("preference") is not None
    ]


def group_sides(c: CuratedItem) -> list[tuple[int, bool]]:
    """(group, prefers B) for each preference group whose head takes a side on the item."""
    return [(g, p > 0.5) for g, p in enumerate(c.group_probs or []) if abs(p - 0.5) > SIDE_MARGIN]


def snapshot_input(c: CuratedItem, generated_rationale: str | None = None) -> SnapshotInput:
    """A curated item as the plain values a kind's `snapshot_rows` reads."""
    preference = c.agg.preference
    return SnapshotInput(
        base={
            "prompt": c.prompt_text,
            "messages": c.messages or None,
            "item_id": c.item_id,
            "sources": list(c.agg.sources),
        },
        text_a=c.text_a,
        text_b=c.text_b,
        texts=list(c.texts or []),
        direction=c.direction,
        preference=None if preference is None else (-preference if c.flipped else preference),
        ranks=c.agg.ranks,
        labels=c.agg.labels,
        edits=c.agg.edits,
        n_labels=c.agg.n_labels,
        flipped=c.flipped,
        p_noise=c.p_noise,
        controversial=c.controversial,
        generated_rationale=generated_rationale,
        individual_labels=individual_labels(c),
        group_sides=group_sides(c),
    )


def rows_for(c: CuratedItem, generated_rationale: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(kind, data) rows of one curated item; ties and unchanged edits give none. The rows are the
    kind's (`FeedbackKindSpec.snapshot_rows`)."""
    spec = kind_registry.get(c.kind)
    return [(c.kind, data) for data in spec.snapshot_rows(snapshot_input(c, generated_rationale))]


def _bootstrap_mean_ci(values, n_boot=1000, seed=0):
    import numpy as np

    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return None, None, None
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1) if len(v) > 1 else np.array([v[0]])
    return float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


EDIT_EPSILON_WITHHELD = (
    "edit-derived pairs (edited ≻ original) have no flip-rate estimate: each is one person's rewrite, with no "
    "second label for Dawid–Skene to weigh, so the pairwise ε is not theirs"
)


def _noise_summary(project, pair_noise, kind_noise=None, rows_of_kind=None):
    """ε of the snapshot's pairs, or (epsilon None) the reason there is none: no noise run yet, or
    the latest run found too few independent signals to support a flip rate. `per_kind` holds ε
    per feedback kind (pairwise, binary, edit), each over that kind's rows only: rDPO's
    `label_smoothing` is the pairwise one, and edit-derived pairs never inherit it."""
    run = NoiseRun.objects.filter(project=project).first()
    eps, low, high = _bootstrap_mean_ci(pair_noise)
    rows_of_kind = rows_of_kind or {}
    has_pairs = bool(rows_of_kind.get("pairwise")) or not rows_of_kind  # without counts: assume pairs
    summary = {
        "epsilon": eps,
        "epsilon_low": low,
        "epsilon_high": high,
        "pairs_with_noise": len(pair_noise),
        "method": "mean posterior flip probability of the snapshot's pairs, controversial ones left out (bootstrap 95% CI)",
        "run": None,
        "withheld": "" if eps is not None else "no noise estimate yet: run noise estimation",
    }
    run_kinds = ((run.details or {}).get("per_kind") or {}) if run else {}
    if run:
        summary["run"] = {
            "id": run.pk,
            "method": run.method,
            "epsilon": run.epsilon,
            "epsilon_low": run.epsilon_low,
            "epsilon_high": run.epsilon_high,
            "epsilon_method": run.epsilon_method,
            "epsilon_method_label": run.get_epsilon_method_display() if run.epsilon_method else "",
            "item_count": run.item_count,
            "created_at": run.created_at.isoformat(),
            "withheld": run.withheld,
        }
        pairs = run_kinds.get("pairwise") or {}
        pairs_reason = (pairs.get("coverage") or {}).get("reason")
        if eps is not None and pairs_reason:
            summary.update(
                epsilon=None, epsilon_low=None, epsilon_high=None, withheld=f"noise run {run.pk}: {pairs_reason}"
            )
        elif eps is None and run.epsilon is not None and has_pairs:
            # the run's ε is of pairs: a snapshot without pairwise rows (edits only) does not get it
            summary.update(
                epsilon=run.epsilon,
                epsilon_low=run.epsilon_low,
                epsilon_high=run.epsilon_high,
                method=f"project noise run {run.pk} ({run.method}; ε by {run.get_epsilon_method_display() or 'a method not recorded'})",
                withheld="",
            )
        elif eps is None:
            summary["withheld"] = (
                f"noise run {run.pk}: {run.withheld}" if has_pairs else "the snapshot has no pairwise rows"
            )
    per_kind = {}
    for kind in sorted(set(rows_of_kind) | set(kind_noise or {})):
        if kind == "pairwise":
            per_kind[kind] = {k: summary[k] for k in ("epsilon", "epsilon_low", "epsilon_high", "withheld")}
            per_kind[kind]["rows_with_noise"] = len(pair_noise)
        else:
            values = (kind_noise or {}).get(kind, [])
            e, lo, hi = _bootstrap_mean_ci(values)
            reason = ((run_kinds.get(kind) or {}).get("coverage") or {}).get("reason") or ""
            if kind == "edit" and e is None:
                reason = EDIT_EPSILON_WITHHELD
            elif e is None and not reason:
                reason = "no noise estimate for these rows"
            if reason:
                e = lo = hi = None
            per_kind[kind] = {
                "epsilon": e,
                "epsilon_low": lo,
                "epsilon_high": hi,
                "withheld": reason,
                "rows_with_noise": len(values),
            }
        per_kind[kind]["rows"] = rows_of_kind.get(kind, 0)
    summary["per_kind"] = per_kind
    return summary


def _count_formats(counts, kind, split, data):
    """Add one snapshot row's export rows, per format (curation.formats says how many each gives)."""
    for key, spec in FORMATS.items():
        per = counts.setdefault(key, dict.fromkeys(Split.values, 0))
        per[split] += spec.rows_per_row(kind, data)


class EmptySnapshotError(Invalid, ValueError):
    """The curated view gives no rows: a snapshot of nothing is never frozen (the message says why)."""


def freeze_snapshot(
    project: Project,
    user: Actor = None,
    filters: dict[str, Any] | None = None,
    name: str = "",
    test_fraction: float = 0.1,
) -> Snapshot:
    """Freeze the curated view (actions applied, filters given) into the project's next version.

    Rows are written in batches as the curated view streams by, so memory stays flat; the
    snapshot's hash and counts are filled in at the end of the same transaction, before anyone
    can see it. Raises EmptySnapshotError, writing nothing, when the view gives no rows."""
    filters = validate_filters(filters)
    if not 0 <= float(test_fraction) < 1:
        raise ValueError("test_fraction must be in [0, 1)")
    test_fraction = float(test_fraction)
    upto = last_action_id(project)
    recorded = {**filters, "_actions_upto": upto}
    if "group" in filters:  # which fit defined the group, and who was in it, stay on the snapshot
        run = latest_run(project)
        if run is None:
            raise CurationError("no preference groups yet: fit groups before choosing one")
        try:
            members = group_members(run, filters["group"])
        except ValueError as exc:
            raise CurationError(str(exc)) from None
        recorded.update(_group_run=run.pk, _group_members=sorted(pseudonym(a) for a in members))
    digest = hashlib.sha256()
    by_kind_split: dict[str, dict[str, int]] = {}
    prompts: dict[str, set[str]] = {Split.TRAIN: set(), Split.TEST: set()}
    by_format = {key: dict.fromkeys(Split.values, 0) for key in FORMATS}
    kind_noise: dict[str, list[float]] = {}  # {kind: [p_noise of its non-controversial rows]}: ε per feedback kind
    stats = {"items": 0, "ties": 0}
    with transaction.atomic():
        # Serialise freezes of one project (version numbers) without blocking inserts that reference it.
        lock_project(project)
        version = (Snapshot.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        snapshot = Snapshot.objects.create(
            project=project,
            version=version,
            name=name or f"v{version}",
            filters=recorded,
            content_hash="",
            test_fraction=test_fraction,
            created_by=user if user is not None and user.is_authenticated else None,
        )

        def write(curated):
            generated = _latest_rationales([c.item_id for c in curated])
            rows = []
            for c in curated:
                stats["items"] += 1
                item_rows = rows_for(c, generated.get(c.item_id))
                if not item_rows and c.kind != FeedbackKind.EDIT:
                    stats["ties"] += 1
                split = split_of(c.group_hash, test_fraction)
                for kind, data in item_rows:
                    digest.update(
                        json.dumps([kind, split, c.prompt_hash, data], sort_keys=True, ensure_ascii=False).encode()
                    )
                    digest.update(b"\n")
                    rows.append(
                        SnapshotRow(
                            snapshot=snapshot,
                            item_id=c.item_id,
                            kind=kind,
                            split=split,
                            prompt_hash=c.prompt_hash,
                            data=data,
                        )
                    )
                    by_kind_split.setdefault(kind, {}).setdefault(split, 0)
                    by_kind_split[kind][split] += 1
                    prompts[split].add(c.group_hash)
                    _count_formats(by_format, kind, split, data)
                    if data.get("p_noise") is not None and not data.get("controversial"):
                        kind_noise.setdefault(kind, []).append(data["p_noise"])
            SnapshotRow.objects.bulk_create(rows, batch_size=BULK_SIZE)

        batch = []
        for c in iter_curated(project, filters, upto_action=upto):
            batch.append(c)
            if len(batch) >= BULK_SIZE:
                write(batch)
                batch = []
        write(batch)
        if not by_kind_split:  # raising inside the transaction removes the half-made snapshot
            ties = f", {stats['ties']} of them ties with no preferred side" if stats["ties"] else ""
            raise EmptySnapshotError(
                f"Nothing to freeze: the filters keep {stats['items']} items{ties}, and they give no training rows. "
                "Loosen the filters or collect labels first."
            )
        snapshot.counts = {
            "rows": sum(sum(v.values()) for v in by_kind_split.values()),
            "by_kind": {k: sum(v.values()) for k, v in by_kind_split.items()},
            "by_split": {s: sum(v.get(s, 0) for v in by_kind_split.values()) for s in Split.values},
            "by_kind_split": by_kind_split,
            "prompts": {s: len(p) for s, p in prompts.items()},
            "by_format": by_format,
            "items": stats["items"],
            "ties_excluded": stats["ties"],
        }
        rows_of_kind = {k: sum(v.values()) for k, v in by_kind_split.items()}
        snapshot.noise_summary = _noise_summary(
            project, kind_noise.get(FeedbackKind.PAIRWISE, []), kind_noise, rows_of_kind
        )
        snapshot.epsilon = snapshot.noise_summary["epsilon"]
        snapshot.content_hash = digest.hexdigest()
        snapshot.save(_allow_update=True)  # still inside the creating transaction: nobody has seen it
    return snapshot


def manifest(snapshot: Snapshot) -> dict[str, Any]:
    """What a training job reads before pulling rows: version, hash, counts, splits, ε."""
    filters = dict(snapshot.filters)
    return {
        "project": {"id": snapshot.project_id, "name": snapshot.project.name},
        "snapshot": snapshot.pk,
        "version": snapshot.version,
        "name": snapshot.name,
        "content_hash": snapshot.content_hash,
        "created_at": snapshot.created_at.isoformat(),
        "created_by": snapshot.created_by.get_username() if snapshot.created_by else None,
        "filters": {k: v for k, v in filters.items() if not k.startswith("_")},
        "actions_applied_upto": filters.get("_actions_upto"),
        "group": None
        if "group" not in filters
        else {
            "group": filters["group"],
            "group_run": filters.get("_group_run"),
            "members": filters.get("_group_members", []),
            "rule": "only the labels of the group's members (people whose largest mixture weight is this group); "
            "each item's label is re-aggregated from theirs, items they did not label are left out",
        },
        "test_fraction": snapshot.test_fraction,
        "split_rule": "sha256('split:' + prompt group hash) < test_fraction → test; no prompt in both splits",
        "counts": snapshot.counts,
        "epsilon": snapshot.epsilon,
        "label_smoothing": snapshot.epsilon,  # what TRL's DPOConfig(loss_type="robust") takes
        "noise": snapshot.noise_summary,
        "formats": list(FORMATS),
    }


def new_labels_since_last_snapshot(project: Project) -> int:
    """Annotations made after the project's latest snapshot (all of them when there is none)."""
    latest = Snapshot.objects.filter(project=project).order_by("-version").first()
    qs = Annotation.objects.filter(item__project=project)
    if latest:
        qs = qs.filter(created_at__gt=latest.created_at)
    return qs.count()


def sample_rows(snapshot: Snapshot, n: int = 5, seed: int = 0) -> list[SnapshotRow]:
    """A few rows for previews."""
    ids = list(snapshot.rows.values_list("id", flat=True)[:10000])
    chosen = random.Random(seed).sample(ids, min(n, len(ids)))
    return list(SnapshotRow.objects.filter(id__in=chosen).order_by("id"))


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed since the previous version of a snapshot."""

    previous: Snapshot
    items_added: int
    items_removed: int
    rows: dict[str, int]  # kind → change in row count
    epsilon: float | None  # change in ε; None unless both have one
    same_content: bool


def compare(snapshot: Snapshot, previous: Snapshot | None = None) -> SnapshotDiff | None:
    """What changed since the previous version: items added and removed, rows per kind, ε."""
    previous = (
        previous
        or Snapshot.objects.filter(project_id=snapshot.project_id, version__lt=snapshot.version)
        .order_by("-version")
        .first()
    )
    if previous is None:
        return None
    mine = SnapshotRow.objects.filter(snapshot=snapshot, item__isnull=False).values("item_id")
    theirs = SnapshotRow.objects.filter(snapshot=previous, item__isnull=False).values("item_id")
    kinds = set(snapshot.counts.get("by_kind", {})) | set(previous.counts.get("by_kind", {}))
    return SnapshotDiff(
        previous=previous,
        items_added=SnapshotRow.objects.filter(snapshot=snapshot)
        .exclude(item_id__in=theirs)
        .values("item_id")
        .distinct()
        .count(),
        items_removed=SnapshotRow.objects.filter(snapshot=previous)
        .exclude(item_id__in=mine)
        .values("item_id")
        .distinct()
        .count(),
        rows={
            k: snapshot.counts.get("by_kind", {}).get(k, 0) - previous.counts.get("by_kind", {}).get(k, 0)
            for k in sorted(kinds)
        },
        epsilon=(snapshot.epsilon - previous.epsilon)
        if snapshot.epsilon is not None and previous.epsilon is not None
        else None,
        same_content=snapshot.content_hash == previous.content_hash,
    )
