"""Curation actions and the curated view.

Actions (drop, flip, restore, near-duplicate merge/drop) are recorded as `CurationAction` rows
with the item ids they resolved to at the time, so replaying them is exact and the log says
who did what, when. Filters are not actions: they are parameters of a view (and of a snapshot).

Undo is the exact inverse: an `undo` row points at the action it reverts (one-to-one, so at most
once), and replay skips every action undone by then, as if it had never been applied. The log
itself is never rewritten, and a snapshot frozen before the undo replays as it was.

A noise action applies exactly the selection its preview counted: the preview hands out a digest
of the item ids, and the action refuses when the selection it resolves to has another digest.

`curated_view(project, filters)` = aggregated labels → actions replayed in order → filters. It is
what the dashboard previews and what a snapshot freezes.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from annotate.errors import Invalid
from annotate.models import FeedbackKind, Item, ItemResponse, Project
from curation.labels import Aggregate, aggregate_labels, source_class
from curation.models import CurationAction, ItemFeatures, ItemNoise
from curation.pluralism import group_members, latest_run

ACTIONS = ("drop", "flip", "restore", "merge_duplicates", "drop_duplicates", "undo")
FILTER_KEYS = {
    "kinds",
    "sources",
    "min_agreement",
    "min_labels",
    "max_noise",
    "min_margin",
    "aspects",
    "min_length",
    "max_length",
    "tags",
    "created_after",
    "created_before",
    "exclude_gold",
    "group",
}


Actor = User | AnonymousUser | None  # who acts; recorded only when signed in


class CurationError(Invalid, ValueError):
    """A curation action refused (bad parameters, or a preview that no longer matches: see StaleAction)."""


@dataclass
class CuratedItem:
    agg: Aggregate
    item_id: int
    kind: str
    prompt_id: int = 0
    prompt_text: str = ""
    messages: list | None = None
    prompt_hash: str = ""
    group_hash: str = ""  # the split key: near-duplicate prompts merged share one
    text_a: str = ""
    text_b: str | None = None
    texts: list | None = None  # every response, canonical order (ranking items)
    created_at: datetime | None = None
    is_gold: bool = False
    tags: dict = field(default_factory=dict)
    p_noise: float | None = None
    flipped: bool = False
    controversial: bool = False  # the preference groups explain its disagreement (curation.pluralism)
    group_probs: list | None = None  # each group's P(B ≻ A) from the latest group fit

    @property
    def direction(self) -> int | None:
        d = self.agg.direction
        return -d if (self.flipped and d) else d

    @property
    def agreement(self) -> float | None:
        """Fraction of the primary labels that agree with the aggregated direction (None below 2 labels)."""
        dirs = [r["direction"] for r in self.agg.labels if r["direction"] is not None]
        if len(dirs) < 2 or not self.agg.direction:
            return None
        return sum(d == self.agg.direction for d in dirs) / len(dirs)

    @property
    def source(self) -> str:
        return source_class(self.agg)

    @property
    def length(self) -> int:
        return max(len(self.text_a or ""), len(self.text_b or ""))


def record(
    project: Project,
    user: Actor,
    action: str,
    item_ids: Iterable[int],
    params: dict[str, Any] | None = None,
    undo_of: CurationAction | None = None,
) -> CurationAction:
    if action not in ACTIONS:
        raise CurationError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    ids = sorted(int(i) for i in item_ids)
    return CurationAction.objects.create(
        project=project,
        user=user if user and user.is_authenticated else None,
        action=action,
        params={**(params or {}), "affected": len(ids)},
        item_ids=ids,
        undo_of=undo_of,
    )


def selection_digest(item_ids: Iterable[int]) -> str:
    """A short digest of a set of item ids: what a preview showed, checked again when applying."""
    import hashlib

    return hashlib.sha256(",".join(map(str, sorted(int(i) for i in item_ids))).encode()).hexdigest()[:16]


def _check_items(project: Project, item_ids: Iterable[int]) -> list[int]:
    ids = {int(i) for i in item_ids}
    found = set(Item.objects.filter(project=project, id__in=ids).values_list("id", flat=True))
    if ids - found:
        raise CurationError(f"items not in this project: {sorted(ids - found)[:10]}")
    return sorted(ids)


def drop_items(project: Project, user: Actor, item_ids: Iterable[int], reason: str = "") -> CurationAction:
    return record(project, user, "drop", _check_items(project, item_ids), {"reason": reason})


def flip_items(project: Project, user: Actor, item_ids: Iterable[int], reason: str = "") -> CurationAction:
    return record(project, user, "flip", _check_items(project, item_ids), {"reason": reason})


def restore_items(project: Project, user: Actor, item_ids: Iterable[int]) -> CurationAction:
    return record(project, user, "restore", _check_items(project, item_ids), {})


def is_noisy(c: CuratedItem, threshold: float) -> bool:
    """Above the noise threshold and not controversial (a split the preference groups explain is
    opinion: a noise action must not flip or drop the minority's view away)."""
    return c.p_noise is not None and c.p_noise > threshold and not c.controversial


def noisy_items(project: Project, threshold: float, filters: dict[str, Any] | None = None) -> list[int]:
    """Curated pairwise/binary items whose current label is wrong with probability > threshold."""
    return [c.item_id for c in curated_view(project, filters) if is_noisy(c, threshold)]


def act_on_noisy(
    project: Project,
    user: Actor,
    action: str,
    threshold: float | str,
    filters: dict[str, Any] | None = None,
    expected: str | None = None,
) -> CurationAction:
    """Flip or drop every curated item above a noise threshold; one recorded action. With
    `expected` (the digest a preview showed), refuse unless the selection is still that one."""
    if action not in ("drop", "flip"):
        raise CurationError("noise actions are 'drop' or 'flip'")
    if not 0 <= float(threshold) <= 1:
        raise CurationError("threshold must be in 0..1")
    ids = noisy_items(project, float(threshold), filters)
    if expected and selection_digest(ids) != expected:
        raise CurationError(
            f"the selection changed since the preview (now {len(ids)} items); preview again before applying"
        )
    return record(project, user, action, ids, {"noise_threshold": float(threshold), "filters": filters or {}})


def _replay(project, upto=None):
    """(dropped ids, flipped ids, {prompt_hash: group hash}) after replaying the action log."""
    dropped: set[int] = set()
    flipped: set[int] = set()
    groups: dict[str, str] = {}
    qs = CurationAction.objects.filter(project=project).order_by("created_at", "id")
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    log = list(qs)
    undone = {a.undo_of_id for a in log if a.action == "undo"}
    for action in log:
        if action.action == "undo" or action.pk in undone:
            continue
        ids = set(action.item_ids)
        if action.action in ("drop", "drop_duplicates"):
            dropped |= ids
        elif action.action == "flip":
            flipped ^= ids
        elif action.action == "restore":  # un-drop; a flip is undone by flipping again
            dropped -= ids
        if action.action in ("merge_duplicates", "drop_duplicates"):
            for canonical, members in action.params.get("groups", {}).items():
                for h in members:
                    groups[h] = canonical
    return dropped, flipped, groups


def last_action_id(project: Project) -> int | None:
    return CurationAction.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first()


def validate_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    filters = dict(filters or {})
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise CurationError(f"unknown filters: {sorted(unknown)}; known: {sorted(FILTER_KEYS)}")
    for key in ("kinds", "sources"):
        if key in filters and not isinstance(filters[key], list):
            raise CurationError(f"{key} must be a list")
    for key in ("min_agreement", "max_noise", "min_margin"):
        if filters.get(key) is not None:
            try:
                filters[key] = float(filters[key])
            except (TypeError, ValueError):
                raise CurationError(f"{key} must be a number") from None
    if filters.get("group") not in (None, ""):
        try:
            filters["group"] = int(filters["group"])
        except (TypeError, ValueError):
            raise CurationError("group must be a group number") from None
        if filters["group"] < 0:
            raise CurationError("group must be a group number (0 or more)")
    for key in ("min_labels", "min_length", "max_length"):
        if filters.get(key) is not None:
            try:
                filters[key] = int(filters[key])
            except (TypeError, ValueError):
                raise CurationError(f"{key} must be an integer") from None
    return {k: v for k, v in filters.items() if v not in (None, "", [])}


def _aspect_ok(c, spec):
    """Aspect filter {aspect: {"min": x}}: the mean rating of the winning (or only) response."""
    for aspect, bounds in spec.items():
        values = []
        for r in c.agg.labels:
            rating = (r.get("aspect_ratings") or {}).get(aspect)
            if isinstance(rating, dict):
                side = "b" if c.direction and c.direction > 0 else "a"
                rating = rating.get(side)
            if isinstance(rating, (int, float)):
                values.append(rating)
        if not values:
            return False
        mean = sum(values) / len(values)
        if "min" in bounds and mean < float(bounds["min"]):
            return False
        if "max" in bounds and mean > float(bounds["max"]):
            return False
    return True


def _tags_ok(c, spec):
    for dim, wanted in spec.items():
        value = c.tags.get(dim)
        values = value if isinstance(value, list) else [value]
        if not set(map(str, values)) & set(map(str, wanted if isinstance(wanted, list) else [wanted])):
            return False
    return True


def passes(c: CuratedItem, f: dict[str, Any]) -> bool:
    if "kinds" in f and c.kind not in f["kinds"]:
        return False
    if "sources" in f and c.source not in f["sources"]:
        return False
    if f.get("exclude_gold") and c.is_gold:
        return False
    if "min_labels" in f and c.agg.n_labels < f["min_labels"]:
        return False
    if "min_agreement" in f and c.agreement is not None and c.agreement < f["min_agreement"]:
        return False
    if "max_noise" in f and c.p_noise is not None and c.p_noise > f["max_noise"]:
        return False
    if "min_margin" in f and c.kind == FeedbackKind.PAIRWISE and (c.agg.margin or 0) < f["min_margin"]:
        return False
    if "min_length" in f and c.length < f["min_length"]:
        return False
    if "max_length" in f and c.length > f["max_length"]:
        return False
    if "aspects" in f and not _aspect_ok(c, f["aspects"]):
        return False
    if "tags" in f and not _tags_ok(c, f["tags"]):
        return False
    day = c.created_at.date().isoformat() if c.created_at else ""
    if "created_after" in f and day < str(f["created_after"]):
        return False
    return not ("created_before" in f and day > str(f["created_before"]))


def _noise_for(item_noise, agg_direction, flipped):
    if item_noise is None or not agg_direction:
        return None
    p_wrong, label = item_noise
    p = p_wrong if (label or {}).get("direction", agg_direction) == agg_direction else 1.0 - p_wrong
    return 1.0 - p if flipped else p


def iter_curated(
    project: Project, filters: dict[str, Any] | None = None, upto_action: int | None = None, chunk: int = 2000
) -> Iterator[CuratedItem]:
    """Curated items of the project after actions and filters, in item id order, a chunk of items
    at a time (labels, texts, tags and noise are read per chunk, so memory stays flat)."""
    filters = validate_filters(filters)
    dropped, flipped, groups = _replay(project, upto_action)
    group_run = latest_run(project)
    members = None
    if "group" in filters:  # a per-group view: the labels of that group's members alone
        if group_run is None:
            raise CurationError("no preference groups yet: fit groups before choosing one")
        try:
            members = group_members(group_run, filters["group"])
        except ValueError as exc:
            raise CurationError(str(exc)) from None
    controversial = set(group_run.controversial) if group_run else set()
    group_probs = group_run.item_probs if group_run else {}
    items = Item.objects.filter(project=project)
    if filters.get("kinds"):
        items = items.filter(kind__in=filters["kinds"])
    last_id = 0
    while True:
        part = list(items.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[:chunk])
        if not part:
            return
        last_id = part[-1]
        part = [i for i in part if i not in dropped]
        aggregates = aggregate_labels(project, kinds=filters.get("kinds"), item_ids=part, annotator_ids=members)
        part = [i for i in part if i in aggregates]
        rows = (
            Item.objects.filter(id__in=part)
            .order_by("id")
            .values(
                "id",
                "kind",
                "prompt_id",
                "prompt__text",
                "prompt__messages",
                "prompt__content_hash",
                "response_a__text",
                "response_b__text",
                "created_at",
                "is_gold",
            )
        )
        tags = dict(ItemFeatures.objects.filter(item_id__in=part).values_list("item_id", "tags"))
        texts: dict[int, list[str]] = {}
        for item_id, text in ItemResponse.objects.filter(item_id__in=part).values_list("item_id", "response__text"):
            texts.setdefault(item_id, []).append(text)  # ordered by (item, position)
        noise = {
            i: (p, lab)
            for i, p, lab in ItemNoise.objects.filter(item_id__in=part).values_list("item_id", "p_wrong", "label")
        }
        for it in rows:
            agg = aggregates[it["id"]]
            c = CuratedItem(
                agg=agg,
                item_id=it["id"],
                kind=it["kind"],
                prompt_id=it["prompt_id"],
                prompt_text=it["prompt__text"],
                messages=it["prompt__messages"],
                prompt_hash=it["prompt__content_hash"],
                group_hash=groups.get(it["prompt__content_hash"], it["prompt__content_hash"]),
                text_a=it["response_a__text"],
                text_b=it["response_b__text"],
                texts=texts.get(it["id"]),
                created_at=it["created_at"],
                is_gold=it["is_gold"],
                tags=tags.get(it["id"]) or {},
                flipped=it["id"] in flipped,
                controversial=it["id"] in controversial,
                group_probs=group_probs.get(str(it["id"])),
            )
            c.p_noise = _noise_for(noise.get(it["id"]), agg.direction, c.flipped)
            if passes(c, filters):
                yield c


def curated_view(
    project: Project, filters: dict[str, Any] | None = None, upto_action: int | None = None
) -> list[CuratedItem]:
    """The curated items as a list (previews, noise actions)."""
    return list(iter_curated(project, filters, upto_action))


@transaction.atomic
def undo(project: Project, user: Actor, action_id: int) -> CurationAction:
    """Revert an action exactly, once: record an `undo` pointing at it; replay then skips it."""
    action = CurationAction.objects.select_for_update().filter(project=project, pk=action_id).first()
    if action is None:
        raise CurationError(f"no action {action_id} in this project")
    if action.action == "undo" or action.undo_of_id is not None:
        raise CurationError("an undo cannot itself be undone")
    if CurationAction.objects.filter(undo_of=action).exists():
        raise CurationError(f"action #{action.pk} was already undone")
    return record(
        project, user, "undo", action.item_ids, {"undo_of": action.pk, "reverts": action.action}, undo_of=action
    )
