"""The record browser: the items behind the curation dashboard's figures, and what can be done to a
selection of them.

`find_records` lists the curated items that match the dashboard's filters (the same
`curated_view`, so a count on the dashboard is the length of this list), narrowed by a text search
and sorted by noise, agreement, margin, route or date. `item_history` is what an item's page adds
to its labels: the noise estimate and every curation action and label that touched it, in time
order. `bulk_action` applies one action to a selection: curation actions (drop, flip, restore) are
recorded and undoable like any other; marking gold takes the item's current curated label as the
answer; "send to people" routes the items to humans; "re-judge" removes the judges' labels of the
selection, and the caller (the web layer) starts the judging run that labels them afresh.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from annotate.gold import mark_gold
from annotate.models import Annotation, AnnotatorKind, FeedbackKind, Item, Routing
from curation.actions import CurationError, curated_view, drop_items, flip_items, restore_items
from curation.models import CurationAction, ItemNoise

SORTS = {
    "id": "item id",
    "date": "date",
    "noise": "p(label wrong)",
    "agreement": "agreement",
    "margin": "margin",
    "route": "route",
}
BULK_ACTIONS = {
    "drop": "Drop",
    "flip": "Flip the label",
    "restore": "Restore (un-drop)",
    "gold": "Mark gold (current label as the answer)",
    "people": "Send to people",
    "rejudge": "Re-judge",
}


@dataclass
class RecordRow:
    item_id: int
    kind: str
    prompt: str
    text_a: str
    text_b: str | None
    direction: int | None
    margin: float | None
    agreement: float | None
    p_noise: float | None
    source: str
    n_labels: int
    flipped: bool
    is_gold: bool
    created_at: datetime | None
    routing: str = ""


def _matches(c, needle):
    return any(needle in (t or "").lower() for t in (c.prompt_text, c.text_a, c.text_b))


def _key(sort):
    # Missing values sort last whichever way the list is ordered (see find_records).
    return {
        "id": lambda r: r.item_id,
        "date": lambda r: r.created_at,
        "noise": lambda r: r.p_noise,
        "agreement": lambda r: r.agreement,
        "margin": lambda r: r.margin,
        "route": lambda r: r.routing,
    }[sort]


def find_records(project, filters=None, query="", sort="id", descending=False) -> list[RecordRow]:
    """The curated items matching `filters` whose prompt or responses contain `query`, sorted."""
    if sort not in SORTS:
        raise CurationError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
    needle = (query or "").strip().lower()
    rows = [
        RecordRow(
            item_id=c.item_id,
            kind=c.kind,
            prompt=c.prompt_text,
            text_a=c.text_a,
            text_b=c.text_b,
            direction=c.direction,
            margin=c.agg.margin,
            agreement=c.agreement,
            p_noise=c.p_noise,
            source=c.source,
            n_labels=c.agg.n_labels,
            flipped=c.flipped,
            is_gold=c.is_gold,
            created_at=c.created_at,
        )
        for c in curated_view(project, filters)
        if not needle or _matches(c, needle)
    ]
    routes: dict[int, str] = {}
    ids = [r.item_id for r in rows]
    for start in range(0, len(ids), 5000):
        routes.update(Item.objects.filter(pk__in=ids[start : start + 5000]).values_list("pk", "routing"))
    for r in rows:
        r.routing = routes.get(r.item_id, "")
    key = _key(sort)
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=lambda r: (key(r), r.item_id), reverse=descending)
    return present + missing


@dataclass
class HistoryEvent:
    at: datetime
    what: str
    who: str = ""
    action_id: int | None = None


@dataclass
class ItemHistory:
    p_noise: float | None = None
    noise_label: dict = field(default_factory=dict)
    noise_signals: dict = field(default_factory=dict)
    noise_run_id: int | None = None
    events: list[HistoryEvent] = field(default_factory=list)


def item_history(project, item) -> ItemHistory:
    history = ItemHistory()
    noise = ItemNoise.objects.filter(item=item).first()
    if noise is not None:
        history.p_noise, history.noise_label, history.noise_signals, history.noise_run_id = (
            noise.p_wrong,
            noise.label,
            noise.signals,
            noise.run_id,
        )
    events = [HistoryEvent(at=item.created_at, what="created")]
    for a in Annotation.objects.filter(item=item).select_related("annotator").order_by("created_at"):
        events.append(
            HistoryEvent(
                at=a.created_at,
                what=f"labelled ({a.status})",
                who=f"{a.annotator.get_kind_display()} {a.annotator.name}",
            )
        )
    # JSON containment is not portable to SQLite: scan the project's log (it is an audit log, not a hot path).
    for act in CurationAction.objects.filter(project=project).select_related("user").order_by("created_at", "id"):
        if item.pk in act.item_ids:
            what = (
                act.action if act.action != "undo" else f"undo of #{act.undo_of_id} ({act.params.get('reverts', '')})"
            )
            events.append(HistoryEvent(at=act.created_at, what=what, who=str(act.user or ""), action_id=act.pk))
    history.events = sorted(events, key=lambda e: e.at)
    return history


@dataclass
class BulkResult:
    action: str
    changed: int
    skipped: int = 0
    note: str = ""
    run_ids: list[int] = field(default_factory=list)

    @property
    def message(self):
        text = f"{BULK_ACTIONS[self.action]}: {self.changed} item{'s' if self.changed != 1 else ''}"
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text + (f" ({self.note})" if self.note else "")


def _own_items(project, item_ids):
    try:
        ids = sorted({int(i) for i in item_ids})
    except (TypeError, ValueError):
        raise CurationError("items are given by their numbers") from None
    if not ids:
        raise CurationError("select at least one item")
    found = list(Item.objects.filter(project=project, pk__in=ids))
    if len(found) != len(ids):
        raise CurationError("some selected items are not in this project")
    return found


def _gold_answer(item, direction):
    if item.kind == FeedbackKind.PAIRWISE and direction:
        return {"preference": 2 * direction}
    if item.kind == FeedbackKind.BINARY and direction:
        return {"thumbs": "up" if direction > 0 else "down"}
    return None


def bulk_action(project, user, action, item_ids) -> BulkResult:
    if action not in BULK_ACTIONS:
        raise CurationError(f"unknown bulk action {action!r}; one of {', '.join(BULK_ACTIONS)}")
    items = _own_items(project, item_ids)
    ids = [i.pk for i in items]
    if action in ("drop", "flip", "restore"):
        act = {"drop": drop_items, "flip": flip_items, "restore": restore_items}[action](project, user, ids)
        return BulkResult(action, len(act.item_ids), note=f"action #{act.pk}, undoable on the dashboard")
    if action == "gold":
        # The answer is the item's current curated label (after flips); items without a decisive
        # label (ties, edits, unlabelled, dropped) cannot be gold and are skipped.
        current = {c.item_id: c.direction for c in curated_view(project) if c.item_id in set(ids)}
        changed = 0
        with transaction.atomic():
            for item in items:
                answer = _gold_answer(item, current.get(item.pk))
                if answer is not None:
                    mark_gold(item, answer)
                    changed += 1
        return BulkResult(
            action,
            changed,
            len(items) - changed,
            "no decisive label to take as the answer" if changed < len(items) else "",
        )
    if action == "people":
        changed = (
            Item.objects.filter(pk__in=ids)
            .exclude(routing__in=[Routing.HUMAN, Routing.BOTH])
            .update(routing=Routing.HUMAN)
        )
        return BulkResult(action, changed, len(ids) - changed, "already routed to people" if changed < len(ids) else "")
    removed = clear_judge_labels(project, ids)
    return BulkResult(
        "rejudge", len(ids), note=f"{removed} earlier judge labels removed; the judging run replaces them"
    )


def clear_judge_labels(project, ids) -> int:
    """Remove the project judges' labels of these items, so a judging run labels them afresh (the
    judging service skips items a judge already labelled). The caller starts that run."""
    if not project.judges.exists():
        raise CurationError("this project has no judges; add one on the routing page")
    removed, _ = Annotation.objects.filter(
        item_id__in=ids, annotator__kind=AnnotatorKind.JUDGE, annotator__judge__in=project.judges.all()
    ).delete()
    return removed
