"""The label table and the aggregated label per item.

Every parsed `Annotation` becomes one row per (item, annotator) in the item's canonical A/B
order. Pairwise preferences collapse to a direction: −1 A wins, 0 tie, +1 B wins; thumbs to
+1 up / −1 down. Agreement, annotator quality, noise and snapshots all read these rows.

Aggregation: the primary labels of an item are those of people (humans, and imported sources
whose import declared their labels human); models' labels (LM judges, and imported sources left
as judge labels, e.g. UltraFeedback's or AlpacaEval's GPT-4 verdicts) are used only where no
person labelled the item. Each kind aggregates its own (`FeedbackKindSpec.consensus`): pairwise →
mean preference (its sign is the winner, |mean| the margin); binary → majority thumbs; ranking →
mean rank per response; edit → one row per edit that changed the response.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.conf import settings

from annotate.kinds import registry as kind_registry
from annotate.models import Annotation, AnnotationStatus, AnnotatorKind, FeedbackKind, Item, LabelKind

PERSON_KINDS = (
    AnnotatorKind.HUMAN,
    AnnotatorKind.SOURCE,
)  # kinds that can be people's; a source only when declared (is_person)
LABEL_FIELDS = (
    "id",
    "item_id",
    "kind",
    "annotator_id",
    "annotator__kind",
    "annotator__label_kind",
    "annotator__name",
    "preference",
    "thumbs",
    "swapped",
    "aspect_ratings",
    "rationale",
    "failed_principles",
    "reason",
    "edited_text",
    "edit_distance",
    "ranking",
    "likert_ratings",
    "confidence",
    "created_at",
    "details__verdicts",
)


def direction(kind, preference=None, thumbs="", ranking=None):
    """Collapsed label: pairwise −1 (A) / 0 (tie) / +1 (B); binary +1 up / −1 down; None where the
    kind has no direction (edits). The kind decides (`FeedbackKindSpec.direction`): gold answers,
    label rows and routing all collapse labels through here."""
    return kind_registry.get(kind).direction({"preference": preference, "thumbs": thumbs, "ranking": ranking})


def label_rows(project, kinds=None, item_ids=None, chunk_size=5000, annotator_ids=None):
    """One dict per parsed annotation, ordered by item: the label table (only the given
    annotators' labels when annotator_ids is not None)."""
    qs = Annotation.objects.filter(item__project=project, status=AnnotationStatus.OK)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if item_ids is not None:
        qs = qs.filter(item_id__in=list(item_ids))
    if annotator_ids is not None:
        qs = qs.filter(annotator_id__in=list(annotator_ids))
    for row in qs.order_by("item_id", "id").values(*LABEL_FIELDS).iterator(chunk_size=chunk_size):
        row["annotator_kind"] = kind = row.pop("annotator__kind")
        row["annotator_label_kind"] = label_kind = row.pop("annotator__label_kind")
        row["is_person"] = kind == AnnotatorKind.HUMAN or (
            kind == AnnotatorKind.SOURCE and label_kind == LabelKind.HUMAN
        )
        row["annotator_name"] = row.pop("annotator__name")
        row["verdicts"] = row.pop("details__verdicts")  # an LM judge's verdicts in both orders, if any
        row["direction"] = kind_registry.get(row["kind"]).direction(row)
        yield row


def pseudonym(annotator_id: int) -> str:
    """A stable pseudonymous annotator id for exports: an HMAC of the annotator's primary key under
    the deployment's SECRET_KEY, so it never reveals a username and cannot be reversed by guessing
    small ids. Stable for as long as SECRET_KEY is (frozen snapshots keep the value they were made with)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"annotator:{annotator_id}".encode(), hashlib.sha256)
    return "a_" + digest.hexdigest()[:16]


def label_frame(project, kinds=None):
    """The label table as a pandas DataFrame (agreement and quality statistics)."""
    import pandas as pd

    rows = list(label_rows(project, kinds=kinds))
    columns = [f for f in LABEL_FIELDS if "__" not in f] + [
        "annotator_kind",
        "annotator_label_kind",
        "is_person",
        "annotator_name",
        "verdicts",
        "direction",
    ]
    return pd.DataFrame(rows, columns=columns)


@dataclass
class Aggregate:
    """The curated label of one item (before curation actions flip or drop it)."""

    item_id: int
    kind: str
    preference: float | None = None  # pairwise: mean preference of the primary labels
    ranks: list | None = None  # ranking: mean rank of each response (canonical order), 1 = best
    direction: int | None = None  # pairwise/binary collapsed label; 0 = tie (not a pair)
    sources: list = field(default_factory=list)  # annotator kinds behind the primary labels
    all_sources: list = field(default_factory=list)  # every annotator kind that labelled the item
    n_labels: int = 0
    labels: list = field(default_factory=list)  # the primary label rows
    edits: list = field(default_factory=list)  # edit rows that changed the response
    judge_directions: list = field(default_factory=list)  # models' labels: LM judges and judge-labelled sources
    by_person: bool = False  # some label is people's
    by_model: bool = False  # some label is a model's
    all_labels: list = field(default_factory=list)  # every label row, people and judges (individual-label export)

    @property
    def margin(self):
        return abs(self.preference) if self.preference is not None else None


def _aggregate_one(item_id, kind, rows, originals):
    agg = Aggregate(item_id=item_id, kind=kind, n_labels=len(rows), all_labels=rows)
    agg.all_sources = sorted({r["annotator_kind"] for r in rows})
    people = [r for r in rows if r["is_person"]]
    machines = [r for r in rows if not r["is_person"]]
    agg.by_person, agg.by_model = bool(people), bool(machines)
    agg.judge_directions = [r["direction"] for r in machines if r["direction"] is not None]
    primary = people or machines
    agg.labels = primary
    agg.sources = sorted({r["annotator_kind"] for r in primary})
    consensus = kind_registry.get(kind).consensus(primary)
    agg.preference, agg.direction, agg.ranks = consensus.preference, consensus.direction, consensus.ranks
    if kind == FeedbackKind.EDIT:
        original = originals.get(item_id, "")
        agg.edits = [
            r for r in primary if r["edited_text"] is not None and r["edited_text"].strip() != original.strip()
        ]
    return agg


def aggregate_labels(project, kinds=None, item_ids=None, annotator_ids=None):
    """{item_id: Aggregate} for every labelled item of the project (from the given annotators'
    labels alone when annotator_ids is not None)."""

    originals = {}
    if kinds is None or FeedbackKind.EDIT in kinds:
        qs = Item.objects.filter(project=project, kind=FeedbackKind.EDIT)
        if item_ids is not None:
            qs = qs.filter(id__in=list(item_ids))
        originals = dict(qs.values_list("id", "response_a__text"))
    out: dict[int, Aggregate] = {}
    labelled = label_rows(project, kinds=kinds, item_ids=item_ids, annotator_ids=annotator_ids)
    for item_id, group in groupby(labelled, key=itemgetter("item_id")):  # rows come ordered by item
        rows = list(group)
        out[item_id] = _aggregate_one(item_id, rows[0]["kind"], rows, originals)
    return out


def source_class(agg):
    """human, judge or both: whether people, models or both labelled the item (a source counts as
    people only when its import declared its labels human)."""
    return "both" if agg.by_person and agg.by_model else ("judge" if agg.by_model else "human")
