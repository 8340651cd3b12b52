"""The human queue: which item an annotator gets next, the lease that holds it, and skips.

Invariant: for a non-gold item, submitted human labels + live leases never exceed the project's
overlap k. (An import of labels declared human adds to the same count without a lease, so an item
imported with more than k people's labels is simply full; the queue never hands it out.) Every
path that changes either number (handing out a lease, submitting) first locks the item row, so the
count taken under the lock is exact:

* PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a candidate nobody else is deciding on,
  then leases and labels are re-counted under that lock (a fresh READ COMMITTED snapshot).
* SQLite has no row locks; touching the project row takes the database's single write lock, so
  every decision in a project is serialised (correct, and fast enough for the embedded default).

Routing: items routed to ``human`` or ``both`` go to people. ``unrouted`` items count as human
work until the project's first routing run; after that, new items wait for the next routing run
so that humans get exactly what the router chose.

Order (``project.queue_order``): "depth", the default, hands out the open item with the most
labels first, then the oldest, so items reach k one after another and agreement can be measured
from the first labels on (as Argilla's task distribution and Label Studio's overlap do);
"breadth" hands out the fewest-labelled item first, so every item gets one label before any gets
a second. Depth looks only at the head of its order (`queue_sql.DEPTH_WINDOW` items); an annotator
far ahead of the others, whose own labels fill that head while they wait for a second label, gets
the next item in breadth order instead of walking their whole backlog on every request. The order
only chooses among items with a free slot: the invariant above holds for both.

Gold items (known answer) are exempt from overlap: every annotator should see them. They are
mixed in at ``project.gold_rate`` by a hash of (project, annotator, n-th item), which is
deterministic per annotator and uniform across annotators.

The statements on the hot path (lease, label) are in `annotate.queue_sql`.
"""

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Least
from django.http import HttpRequest
from django.utils import timezone

from annotate import queue_sql
from annotate.errors import Conflict
from annotate.kinds import registry as kind_registry
from annotate.models import (
    Annotator,
    AnnotatorKind,
    Assignment,
    AssignmentState,
    Item,
    Project,
    QueueOrder,
    Routing,
)
from annotate.permissions import visible_sql
from annotate.projects import lock_project
from annotate.strict_input import InputError, check_value, text_problem

LEASED, SUBMITTED, SKIPPED = AssignmentState.LEASED, AssignmentState.SUBMITTED, AssignmentState.SKIPPED
LOCK_WAIT_SECONDS = 5  # how long a request waits for a routing run that holds every open item
CANDIDATE_ATTEMPTS = 32  # candidates that filled up between snapshot and lock; rare


class QueueError(Conflict):
    """A queue request that does not fit the assignment's state (a 409): the message is shown to the user."""


class BadDraft(QueueError):
    """The draft itself is refused (too large, not storable): a 400, where a QueueError is a 409."""

    status = 400


class BadSkip(QueueError):
    """The skip itself is refused (no reason, or one that cannot be stored): a 400."""

    status = 400


def human_annotator(user: User) -> Annotator:
    """The Annotator row for a person, created on first use."""
    try:
        return user.annotator
    except Annotator.DoesNotExist:
        annotator, _ = Annotator.objects.get_or_create(
            user=user, defaults={"kind": AnnotatorKind.HUMAN, "name": _unique_name(user.get_username())}
        )
        return annotator


def request_annotator(request: HttpRequest) -> Annotator:
    """`human_annotator` for a request, remembered in the session so hot paths skip the lookup.
    The remembered id is bound to the user id, so a session can never act as someone else."""
    user = request.user
    if not isinstance(user, User):  # the views behind login_required never get here
        raise PermissionDenied("sign in to annotate")
    remembered = request.session.get("tandem_annotator")
    if isinstance(remembered, list) and len(remembered) == 2 and remembered[0] == user.pk:
        return Annotator(pk=remembered[1], kind=AnnotatorKind.HUMAN, user_id=user.pk)
    annotator = human_annotator(user)
    request.session["tandem_annotator"] = [user.pk, annotator.pk]
    return annotator


def _unique_name(username: str) -> str:
    name = username
    while Annotator.objects.filter(name=name).exists():
        name = f"{username}#{random.randint(1000, 9999)}"
    return name


def human_routes(project: Project) -> list[str]:
    """Routing values offered to people (see module docstring)."""
    if project.routing_runs.exists():
        return [Routing.HUMAN, Routing.BOTH]
    return [Routing.UNROUTED, Routing.HUMAN, Routing.BOTH]


def live_lease(project: Project, annotator: Annotator, now: datetime | None = None) -> Assignment | None:
    """The annotator's live lease in this project, with everything its form shows; or None."""
    return queue_sql.leased_with_content(
        project, *queue_sql.live_lease_where(project.pk, annotator.pk, now or timezone.now())
    )


def next_assignment(project: Project, annotator: Annotator, now: datetime | None = None) -> Assignment | None:
    """The annotator's live lease in this project, or a new lease on the next item; None when done."""
    now = now or timezone.now()
    current = live_lease(project, annotator, now)
    if current is not None:
        return current
    with transaction.atomic():
        # Two requests of the same annotator at once (a double click, two tabs) must not lease
        # two items: the annotator row (PostgreSQL) or the database write lock (SQLite)
        # serialises them, and the second one resumes the first's lease.
        lease_id = None
        if connection.features.has_select_for_update:
            queue_sql.lock_annotator(annotator.pk)
            lease_id = queue_sql.live_lease_id(project.pk, annotator.pk, now)
        else:
            lock_project(project)  # SQLite: the database write lock
        if lease_id is None and project.gold_rate > 0 and _gold_turn(project, annotator):
            lease_id = _lease_gold(project, annotator, now)
        if lease_id is None:
            lease_id = _lease_regular(project, annotator, now)
    return None if lease_id is None else queue_sql.leased_with_content(project, queue_sql.BY_ID, [lease_id])


def collected_kinds(project: Project) -> list[str]:
    """Feedback kinds the project collects from people; items of other kinds stay out of the queue."""
    return list(project.feedback_kinds or kind_registry.keys())


def _gold_turn(project, annotator):
    n = Assignment.objects.filter(annotator=annotator, item__project=project).count()
    digest = hashlib.blake2b(f"{project.pk}:{annotator.pk}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < project.gold_rate


def _lease_gold(project, annotator, now):
    # Gold items are exempt from overlap: the first one this annotator has not done yet.
    item_id = queue_sql.first_id(
        *queue_sql.candidate_sql(project, collected_kinds(project), annotator.pk, now, gold=True, lock=None)
    )
    return None if item_id is None else _grant(item_id, annotator, project, now)


def _lease_regular(project, annotator, now):
    tried: list[int] = []
    for _ in range(CANDIDATE_ATTEMPTS):
        candidate = partial(
            queue_sql.candidate_sql,
            project,
            collected_kinds(project),
            annotator.pk,
            now,
            False,
            tried,
            order=QueueOrder.BREADTH,
        )
        item_id = None
        if project.queue_order == QueueOrder.DEPTH:  # the head of the depth order (see candidate_sql)
            item_id = queue_sql.first_id(
                *queue_sql.candidate_sql(
                    project, collected_kinds(project), annotator.pk, now, False, tried, "skip", order=QueueOrder.DEPTH
                )
            )
        if item_id is None:
            item_id = queue_sql.first_id(*candidate("skip"))
        if item_id is None:
            if _wait_for_lock_holders(candidate):
                continue  # whoever held the candidates (e.g. a routing run) is done: look again
            return None
        # The grant re-counts under the lock: another transaction may have committed a lease or
        # a label between our snapshot and our lock.
        lease_id = _grant(item_id, annotator, project, now, overlap=project.overlap)
        if lease_id is not None:
            return lease_id
        tried.append(item_id)
    return None


def _wait_for_lock_holders(candidate, seconds=LOCK_WAIT_SECONDS):
    """SKIP LOCKED found nothing. If open items exist but all are locked (a routing run rewrites a
    project's items in one transaction), wait for the lock holder instead of telling the annotator
    they are done. True when a candidate's lock was obtained; False when there is truly nothing.
    `candidate(lock)` is the candidate query with the given lock mode."""
    if not connection.features.has_select_for_update_skip_locked or queue_sql.first_id(*candidate(None)) is None:
        return False
    try:
        with transaction.atomic():  # a savepoint: a lock timeout must not abort the lease transaction
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")
            # Re-checked against the committed row once the holder is done (a row routed away no longer matches).
            queue_sql.first_id(*candidate("wait"))
    except OperationalError:
        return False
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = 0")
    return True


def _grant(
    item_id: int, annotator: Annotator, project: Project, now: datetime, overlap: int | None = None
) -> int | None:
    until = now + timedelta(minutes=project.lease_minutes)
    return queue_sql.grant(item_id, annotator.pk, until, random.random() < 0.5, now, overlap)


def skip(assignment: Assignment, reason: object, now: datetime | None = None) -> Assignment:
    """Give the item back with a reason; it is never offered to this annotator again."""
    if reason is not None and not isinstance(reason, str):
        raise BadSkip("the skip reason must be text")
    reason = (reason or "").strip()
    if not reason:
        raise BadSkip("say why you skip this item")
    if text_problem(reason):
        raise BadSkip(f"the skip reason {text_problem(reason)}")
    if assignment.state == SKIPPED:
        return assignment
    if assignment.state != LEASED:
        raise QueueError("this item was already submitted")
    assignment.state = SKIPPED
    assignment.skip_reason = reason[:2000]
    assignment.draft = {}
    assignment.save(update_fields=["state", "skip_reason", "draft", "updated_at"])
    return assignment


def save_draft(assignment: Assignment, data: object, now: datetime | None = None) -> Assignment:
    """Keep a half-done form; typing also renews a live lease (the annotator is still at it)."""
    now = now or timezone.now()
    if assignment.state != LEASED:
        raise QueueError("this item is no longer yours to edit")
    if assignment.leased_until <= now:
        raise QueueError(
            "your lease on this item expired; the draft was not saved (submit now, or reload for a new item)"
        )
    if not isinstance(data, dict):
        raise BadDraft("a draft is a mapping of form fields")
    clean = {str(k)[:100]: (v if isinstance(v, (str, int, float, bool, list)) else str(v)) for k, v in data.items()}
    try:
        check_value(clean, "draft", max_depth=3)
    except InputError as exc:
        raise BadDraft(exc.message) from exc
    size = len(json.dumps(clean, ensure_ascii=False).encode("utf-8"))
    if size > settings.TANDEM_MAX_DRAFT_BYTES:
        raise BadDraft(f"the draft is {size // 1024} kB; at most {settings.TANDEM_MAX_DRAFT_BYTES // 1024} kB is kept")
    fields = ["draft", "updated_at"]
    assignment.draft = clean
    assignment.leased_until = max(
        assignment.leased_until, now + timedelta(minutes=assignment.item.project.lease_minutes)
    )
    fields.append("leased_until")
    assignment.save(update_fields=fields)
    return assignment


def assignment_for(
    annotator: Annotator, assignment_id: int, user: User | AnonymousUser | None = None
) -> Assignment | None:
    """The annotator's own assignment with its item and project, or None (never someone else's).
    With `user`, also None once the user may no longer see the item's project (membership
    revoked). The prompt and responses load when a form is shown again."""

    return queue_sql.own_assignment(
        annotator.pk, assignment_id, None if user is None else visible_sql(user, "i.project_id")
    )


@dataclass(frozen=True)
class OverlapProgress:
    """How far the project's human work is toward k labels per item (non-gold items open to people)."""

    k: int
    items: int
    reached_k: int  # items with k or more human labels
    partial: int  # items with at least one label but fewer than k
    unlabelled: int


def overlap_progress(project: Project) -> OverlapProgress:
    """One aggregate over the project's human items: how many reached k, how many are on the way."""
    k = project.overlap
    items = Item.objects.filter(
        project=project, is_gold=False, routing__in=human_routes(project), kind__in=collected_kinds(project)
    )
    agg = items.aggregate(
        total=Count("id"),
        full=Count("id", filter=Q(human_label_count__gte=k)),
        none=Count("id", filter=Q(human_label_count=0)),
    )
    return OverlapProgress(
        k=k,
        items=agg["total"],
        reached_k=agg["full"],
        partial=agg["total"] - agg["full"] - agg["none"],
        unlabelled=agg["none"],
    )


@dataclass(frozen=True)
class Progress:
    """The two progress bars: this annotator's and the whole project's."""

    project_items: int
    project_complete_items: int
    project_labels: int
    project_labels_wanted: int  # k per item
    project_pct: float
    mine_done: int
    mine_skipped: int
    mine_open: int  # open items this annotator has not submitted or skipped
    mine_pct: float


def progress(project: Project, annotator: Annotator) -> Progress:
    """Counts for the two progress bars: this annotator's and the whole project's.

    Two aggregates: one pass over the project's items, one over this annotator's assignments
    (small), so the bars stay cheap however large the project."""
    k = project.overlap
    routes = human_routes(project)
    items = Item.objects.filter(project=project, is_gold=False, routing__in=routes, kind__in=collected_kinds(project))
    agg = items.aggregate(
        total=Count("id"),
        full=Count("id", filter=Q(human_label_count__gte=k)),
        open=Count("id", filter=Q(human_label_count__lt=k)),
        labels=Coalesce(Sum(Least(F("human_label_count"), Value(k))), Value(0)),
    )
    on_open = Q(
        item__is_gold=False,
        item__routing__in=routes,
        item__kind__in=collected_kinds(project),
        item__human_label_count__lt=k,
    )
    mine = Assignment.objects.filter(annotator=annotator, item__project=project).aggregate(
        done=Count("id", filter=Q(state=SUBMITTED)),
        skipped=Count("id", filter=Q(state=SKIPPED)),
        closed_open=Count("id", filter=Q(state__in=[SUBMITTED, SKIPPED]) & on_open),
    )
    done, open_for_me = mine["done"], agg["open"] - mine["closed_open"]
    labels, total_labels = agg["labels"], agg["total"] * k
    return Progress(
        project_items=agg["total"],
        project_complete_items=agg["full"],
        project_labels=labels,
        project_labels_wanted=total_labels,
        project_pct=round(100 * labels / total_labels, 1) if total_labels else 100.0,
        mine_done=done,
        mine_skipped=mine["skipped"],
        mine_open=open_for_me,
        mine_pct=round(100 * done / (done + open_for_me), 1) if (done + open_for_me) else 100.0,
    )
