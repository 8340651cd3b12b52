"""Near-duplicate prompts by embedding similarity (offline MiniLM), merged or dropped.

Merge: near-duplicates share one split key, so none of them can sit in train while another is
in test (the leak dedupe exists to stop); all their items stay. Drop: items on every prompt of a
group but the first one are dropped as well. Both are recorded curation actions.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotate.models import Item, Project, Prompt
from curation.actions import Actor, CurationError, record
from curation.models import CurationAction
from curation.noise import embed as default_embed

DEFAULT_THRESHOLD = 0.92


def _prompt_text(text, messages):
    if messages:
        return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)
    return text


def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


Embed = Callable[[list[str]], np.ndarray]


def near_duplicate_groups(
    project: Project, threshold: float = DEFAULT_THRESHOLD, embed: Embed | None = None, block: int = 2048
) -> list[list[str]]:
    """[[prompt content hashes], ...] of groups with cosine similarity ≥ threshold (first = earliest)."""

    if not 0 < threshold <= 1:
        raise CurationError("threshold must be in (0, 1]")
    seen, hashes, texts = set(), [], []
    for h, text, messages in (
        Prompt.objects.filter(project=project).order_by("id").values_list("content_hash", "text", "messages")
    ):
        if h not in seen:
            seen.add(h)
            hashes.append(h)
            texts.append(_prompt_text(text, messages))
    if len(hashes) < 2:
        return []
    x = np.asarray((embed or default_embed)(texts), dtype=np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    parent = list(range(len(hashes)))
    for start in range(0, len(x), block):
        sims = x[start : start + block] @ x.T
        for i, j in np.argwhere(sims >= threshold):
            i += start
            if i < j:
                a, b = _find(parent, i), _find(parent, j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(hashes)):
        groups.setdefault(_find(parent, i), []).append(i)
    return [[hashes[i] for i in sorted(members)] for members in groups.values() if len(members) > 1]


def prompt_fingerprint(project: Project) -> str:
    """Changes whenever the project's prompts do: a search's groups are valid only while it holds."""
    from django.db.models import Count, Max

    found = Prompt.objects.filter(project=project).aggregate(n=Count("id"), last=Max("id"))
    return f"{found['n']}:{found['last'] or 0}"


def groups_digest(groups: list[list[str]]) -> str:
    """A short digest of a grouping: what a preview showed, checked again when applying."""
    import hashlib

    return hashlib.sha256("|".join(",".join(g) for g in groups).encode()).hexdigest()[:16]


def dedupe(
    project: Project,
    user: Actor,
    mode: str = "merge",
    threshold: float = DEFAULT_THRESHOLD,
    embed: Embed | None = None,
    expected: str | None = None,
) -> CurationAction | None:
    """Record a merge_duplicates or drop_duplicates action; returns it (or None when nothing to do).
    With `expected` (the digest the preview showed), refuse unless the groups are still those."""
    if mode not in ("merge", "drop"):
        raise CurationError("mode is 'merge' or 'drop'")
    groups = near_duplicate_groups(project, threshold, embed=embed)
    if expected and groups_digest(groups) != expected:
        raise CurationError("the near-duplicate groups changed since the preview; preview again before applying")
    return apply_groups(project, user, mode, threshold, groups)


def apply_groups(
    project: Project, user: Actor, mode: str, threshold: float, groups: list[list[str]]
) -> CurationAction | None:
    """Record the merge or drop of groups found earlier (by a background search); None when empty."""
    if mode not in ("merge", "drop"):
        raise CurationError("mode is 'merge' or 'drop'")
    if not groups:
        return None
    params = {"threshold": threshold, "groups": {g[0]: g for g in groups}}
    others = [h for g in groups for h in g[1:]]
    item_ids = list(Item.objects.filter(project=project, prompt__content_hash__in=others).values_list("id", flat=True))
    return record(project, user, f"{mode}_duplicates", item_ids, params)


@dataclass(frozen=True)
class DedupePreview:
    """shown: up to `limit` groups, each a list of {"hash", "text"} (the first prompt is kept);
    total: how many groups there are; digest: of all of them (what the action form confirms)."""

    shown: list[list[dict[str, Any]]]
    total: int
    digest: str


def preview(
    project: Project,
    threshold: float = DEFAULT_THRESHOLD,
    embed: Embed | None = None,
    limit: int = 200,
    groups: list[list[str]] | None = None,
) -> DedupePreview:
    """The near-duplicate groups with their prompt texts. `groups` found earlier (a background
    search) are shown as they are; else they are searched."""
    groups = near_duplicate_groups(project, threshold, embed=embed) if groups is None else groups
    texts = dict(
        Prompt.objects.filter(project=project, content_hash__in=[h for g in groups[:limit] for h in g]).values_list(
            "content_hash", "text"
        )
    )
    shown = [[{"hash": h, "text": texts.get(h, "")} for h in g] for g in groups[:limit]]
    return DedupePreview(shown, len(groups), groups_digest(groups))
