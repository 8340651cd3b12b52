"""What a kind's snapshot rows are made from: one curated item as plain values.

Curation (a layer above the kinds) gathers the curated label, its sources and what its analyses say
(noise, preference groups, pseudonymised individual labels) into a `SnapshotInput`; the kind's
`FeedbackKindSpec.snapshot_rows` turns it into the rows its export shape reads (the contract is in
curation/formats.py). The kinds never import curation: everything they need is in here."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SnapshotInput:
    """One curated item. Directions and preferences are after curation actions (a flip negates)."""

    base: dict[str, Any]  # prompt, messages, item_id, sources: the columns every row starts with
    text_a: str = ""
    text_b: str | None = None
    texts: list[str] = field(default_factory=list)  # every response in canonical order (ranking)
    direction: int | None = None  # the curated label's direction; 0 = no side
    preference: float | None = None  # pairwise: the mean preference of the primary labels
    ranks: list[float] | None = None  # ranking: the mean rank of each response
    labels: list[dict[str, Any]] = field(default_factory=list)  # the primary label rows
    edits: list[dict[str, Any]] = field(default_factory=list)  # edit rows that changed the response
    n_labels: int = 0
    flipped: bool = False
    p_noise: float | None = None
    controversial: bool = False
    generated_rationale: str | None = None  # the latest model-written rationale of the item
    # Every pairwise label (people and judges): {annotator (pseudonym), annotator_kind, preference}, B-positive.
    individual_labels: list[dict[str, Any]] = field(default_factory=list)
    # (group, prefers B) for each preference group whose head takes a side on the item.
    group_sides: list[tuple[int, bool]] = field(default_factory=list)


def rationales(labels: list[dict[str, Any]], generated: str | None) -> list[str]:
    """The labels' non-empty rationales, then the generated one (if any)."""
    out = [r["rationale"].strip() for r in labels if (r.get("rationale") or "").strip()]
    if generated:
        out.append(generated.strip())
    return out
