"""The queue's hot statements, written once in SQL that PostgreSQL and SQLite both run.

Every annotator request passes through these (a lease, a label), so each is one round trip
with no ORM query compilation: on a busy server that compilation cost more CPU than PostgreSQL
spent answering. The rules they encode are documented in `annotate.queue`; the tests there and
in tests/test_queue_concurrency.py hold them to it.

Statements are composed with `psycopg.sql` (tables and columns as `Identifier`s, values as `%s`
placeholders) and rendered to text once per shape (`functools.cache`), so a request pays neither
ORM compilation nor composition.
"""

from functools import cache

from django.db import connection
from psycopg.sql import SQL, Composable, Placeholder

from annotate.models import Annotator, Assignment, AssignmentState, Item, Project, Prompt, QueueOrder, Response, Routing
from annotate.rows import fetch_one, reader, text
from annotate.rows import table as _table
from curation.models import RoutingRun

LEASED, SUBMITTED, SKIPPED = AssignmentState.LEASED, AssignmentState.SUBMITTED, AssignmentState.SKIPPED
DEPTH_WINDOW = 200  # open items "complete to k first" looks at before falling back to breadth order


def _when(value):
    """A datetime as the backend stores it (SQLite compares naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _marks(n: int) -> Composable:
    return SQL(", ").join([Placeholder()] * n)


def _for_update() -> bool:
    return connection.features.has_select_for_update


def lock_annotator(annotator_id):
    """PostgreSQL: serialise one annotator's lease requests (a double click, two tabs) on their
    row, and commit this lease transaction asynchronously, in one statement. A lease is ephemeral:
    if the server crashes right after granting one, the item simply returns to the pool, so its
    commit need not wait for the WAL flush (visibility is unchanged; labels stay synchronous)."""
    fetch_one(_LOCK_ANNOTATOR, [annotator_id])


_LOCK_ANNOTATOR = text(
    SQL("SELECT set_config('synchronous_commit', 'off', true) FROM {} WHERE id = %s FOR UPDATE").format(
        _table(Annotator)
    )
)


def _readers(*pairs):
    return [reader(model, alias) for model, alias in pairs]


def _read_linked(row, assignment_r, item_r, *related):
    """Assignment and item from `row`, then the item's related rows in the order given."""
    assignment = assignment_r.read(row)
    at = assignment_r.width
    item = item_r.read(row, at)
    at += item_r.width
    assignment.item = item
    for name, r in related:
        setattr(item, name, r.read(row, at))
        at += r.width
    return assignment


def leased_with_content(project, where, params):
    """The first assignment matching `where` (SQL on alias `a` for the assignment, `i` for its
    item) with its item, prompt and responses: everything its form shows, in one query."""
    a, i, p, ra, rb = _readers((Assignment, "a"), (Item, "i"), (Prompt, "p"), (Response, "ra"), (Response, "rb"))
    row = fetch_one(_leased_with_content_query(text(where), connection.vendor), params)
    if row is None:
        return None
    assignment = _read_linked(row, a, i, ("prompt", p), ("response_a", ra), ("response_b", rb))
    assignment.item.project = project
    return assignment


@cache
def _leased_with_content_query(where: str, vendor) -> str:
    a, i, p, ra, rb = _readers((Assignment, "a"), (Item, "i"), (Prompt, "p"), (Response, "ra"), (Response, "rb"))
    return text(
        SQL(
            """SELECT {}, {}, {}, {}, {}
            FROM {assignment} a JOIN {item} i ON i.id = a.item_id
            JOIN {prompt} p ON p.id = i.prompt_id JOIN {response} ra ON ra.id = i.response_a_id
            LEFT JOIN {response} rb ON rb.id = i.response_b_id
            WHERE {where} ORDER BY a.created_at LIMIT 1"""
        ).format(
            a.columns,
            i.columns,
            p.columns,
            ra.columns,
            rb.columns,
            assignment=_table(Assignment),
            item=_table(Item),
            prompt=_table(Prompt),
            response=_table(Response),
            where=SQL(where),  # composed by the caller, rendered for the cache key
        )
    )


LIVE_LEASE = SQL("a.annotator_id = %s AND i.project_id = %s AND a.state = %s AND a.leased_until > %s")
BY_ID = SQL("a.id = %s")


def live_lease_where(project_id, annotator_id, now):
    return LIVE_LEASE, [annotator_id, project_id, LEASED, _when(now)]


def own_assignment(annotator_id, assignment_id, visible=None):
    """The annotator's assignment with its item and project, or None. With `visible` (an SQL
    condition on `i.project_id` and its parameters, from `permissions.visible_sql`), also None
    unless it holds."""
    a, i, p = _readers((Assignment, "a"), (Item, "i"), (Project, "p"))
    params = [assignment_id, annotator_id]
    condition = ""
    if visible is not None:
        condition = text(visible[0])
        params += visible[1]
    row = fetch_one(_own_assignment_query(condition, connection.vendor), params)
    return None if row is None else _read_linked(row, a, i, ("project", p))


@cache
def _own_assignment_query(condition: str, vendor) -> str:
    a, i, p = _readers((Assignment, "a"), (Item, "i"), (Project, "p"))
    query = SQL(
        """SELECT {}, {}, {}
        FROM {} a JOIN {} i ON i.id = a.item_id JOIN {} p ON p.id = i.project_id
        WHERE a.id = %s AND a.annotator_id = %s"""
    ).format(a.columns, i.columns, p.columns, _table(Assignment), _table(Item), _table(Project))
    if condition:
        query = SQL("{} AND {}").format(query, SQL(condition))  # composed by permissions
    return text(query)


_LIVE_LEASE_ID = text(
    SQL("SELECT a.id FROM {} a JOIN {} i ON i.id = a.item_id WHERE {} ORDER BY a.created_at LIMIT 1").format(
        _table(Assignment), _table(Item), LIVE_LEASE
    )
)


def live_lease_id(project_id, annotator_id, now):
    _, params = live_lease_where(project_id, annotator_id, now)
    return first_id(_LIVE_LEASE_ID, params)


# The number of live leases on item `i`; parameters: LEASED, now.
_LIVE_LEASES = SQL(
    "(SELECT COUNT(*) FROM {} l WHERE l.item_id = i.id AND l.state = %s AND l.leased_until > %s)"
).format(_table(Assignment))

# Items routed to people, or not routed while the project has never had a routing run; parameters:
# HUMAN, BOTH, UNROUTED.
_OFFERED_TO_PEOPLE = SQL(
    """(i.routing IN (%s, %s) OR (i.routing = %s AND NOT EXISTS (
                SELECT 1 FROM {} r WHERE r.project_id = i.project_id)))"""
).format(_table(RoutingRun))
_OFFERED_PARAMS = [Routing.HUMAN, Routing.BOTH, Routing.UNROUTED]


def candidate_sql(project, kinds, annotator_id, now, gold, tried=(), lock="skip", order=None):
    """The next item for this annotator: open for people, of a kind the project collects, not yet
    labelled or skipped by them; regular items also need a free slot (labels + live leases < k).

    Regular items come in `order` (default: the project's `queue_order`), each an index walk
    that stops at the first free item:
    * "breadth": fewest labels first, then oldest (`item_queue_open`);
    * "depth": most labels first, then oldest (`item_queue_depth`), looking only at the first
      DEPTH_WINDOW open items of that order. Items waiting for *other* people's labels after this
      annotator's own sit at the head of that order; without the window an annotator far ahead
      of the others would walk their whole backlog on every request (35 ms at 3,000 waiting items
      against 0.2 ms). When the window holds nothing for them the caller asks again in breadth
      order, which starts at the unlabelled items.
    `lock`: "skip" (SKIP LOCKED), "wait" (FOR UPDATE) or None."""
    depth = not gold and (order or project.queue_order) != QueueOrder.BREADTH
    lock = lock if _for_update() else None
    params = [project.pk, False, project.overlap, DEPTH_WINDOW] if depth else []
    params += [project.pk, gold, *kinds, *_OFFERED_PARAMS, annotator_id, SUBMITTED, SKIPPED]
    if not gold:
        params += [project.overlap, LEASED, _when(now), project.overlap]
    params += list(tried)
    return _candidate_query(depth, bool(gold), len(kinds), len(tried), lock), params


@cache
def _candidate_query(depth: bool, gold: bool, kinds: int, tried: int, lock: str | None) -> str:
    """The text of `candidate_sql` for one shape of its arguments (parameters in that order)."""
    source: Composable = SQL("{} i").format(_table(Item))
    if depth:  # the window, already in order: the outer walk keeps that order and stops at the first match
        source = SQL(
            """(SELECT j.id AS wid, j.human_label_count AS wcount FROM {item} j
                      WHERE j.project_id = %s AND j.is_gold = %s AND j.human_label_count < %s
                      ORDER BY j.human_label_count DESC, j.id LIMIT %s) w JOIN {item} i ON i.id = w.wid"""
        ).format(item=_table(Item))
    parts: list[Composable] = [
        SQL(
            """SELECT i.id FROM {source}
        WHERE i.project_id = %s AND i.is_gold = %s AND i.kind IN ({kinds}) AND {routed}
          AND NOT EXISTS (SELECT 1 FROM {assignment} d
                          WHERE d.item_id = i.id AND d.annotator_id = %s AND d.state IN (%s, %s))"""
        ).format(source=source, kinds=_marks(kinds), routed=_OFFERED_TO_PEOPLE, assignment=_table(Assignment))
    ]
    if gold:
        order_by = SQL("i.id")
    else:
        parts.append(SQL(" AND i.human_label_count < %s AND i.human_label_count + {} < %s").format(_LIVE_LEASES))
        order_by = SQL("w.wcount DESC, w.wid") if depth else SQL("i.human_label_count, i.id")
    if tried:
        parts.append(SQL(" AND i.id NOT IN ({})").format(_marks(tried)))
    parts.append(SQL(" ORDER BY {} LIMIT 1").format(order_by))
    if lock:
        parts.append(SQL(" FOR UPDATE OF i SKIP LOCKED" if lock == "skip" else " FOR UPDATE OF i"))
    return text(SQL("").join(parts))


def first_id(sql, params):
    row = fetch_one(sql, params)
    return row[0] if row else None


def grant(item_id, annotator_id, until, swapped, now, overlap=None):
    """Lease the item to the annotator; returns the assignment id, or None when (with `overlap`)
    the item has no free slot any more. Run with the item row locked: the count is taken by this
    statement, so it sees every lease and label committed before the lock was ours.

    An annotator whose own lease on this item expired gets it back on the same row (candidates
    never include items they submitted or skipped); a draft lives as long as its lease, so it
    starts empty."""
    params = [annotator_id, LEASED, _when(until), swapped, _when(now), _when(now), item_id]
    if overlap is not None:
        params += [LEASED, _when(now), overlap]
    row = fetch_one(_grant_query(overlap is not None), params + [LEASED])
    return row[0] if row else None


@cache
def _grant_query(capacity: bool) -> str:
    table = _table(Assignment)
    check = SQL(" AND i.human_label_count + {} < %s").format(_LIVE_LEASES) if capacity else SQL("")
    return text(
        SQL(
            """INSERT INTO {table} (item_id, annotator_id, state, leased_until, swapped, skip_reason, draft, created_at, updated_at)
            SELECT i.id, %s, %s, %s, %s, '', '{{}}', %s, %s FROM {item} i WHERE i.id = %s{check}
            ON CONFLICT (item_id, annotator_id) DO UPDATE SET state = excluded.state, leased_until = excluded.leased_until,
                swapped = excluded.swapped, draft = excluded.draft, updated_at = excluded.updated_at
            WHERE {table}.state = %s
            RETURNING id"""
        ).format(table=table, item=_table(Item), check=check)
    )


def locked_for_submit(assignment_id):
    """The assignment as it is now and its item's label count, with the item row locked on
    PostgreSQL (SQLite callers hold the database write lock)."""
    a = reader(Assignment, "a")
    row = fetch_one(_locked_for_submit_query(_for_update(), connection.vendor), [assignment_id])
    if row is None:
        raise Assignment.DoesNotExist(assignment_id)
    return a.read(row), row[a.width]


@cache
def _locked_for_submit_query(lock: bool, vendor) -> str:
    return text(
        SQL("SELECT {}, i.human_label_count FROM {} a JOIN {} i ON i.id = a.item_id WHERE a.id = %s{}").format(
            reader(Assignment, "a").columns,
            _table(Assignment),
            _table(Item),
            SQL(" FOR UPDATE OF i" if lock else ""),
        )
    )


_COUNT_LABEL = text(SQL("UPDATE {} SET human_label_count = human_label_count + 1 WHERE id = %s").format(_table(Item)))
_CLOSE_LEASE = text(
    SQL("UPDATE {} SET state = %s, annotation_id = %s, draft = '{{}}', updated_at = %s WHERE id = %s").format(
        _table(Assignment)
    )
)


def close_with_label(assignment_id, item_id, annotation_id, now):
    """Count the label on its item and close the lease (the item row is locked by the caller)."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_LABEL, [item_id])
        cursor.execute(_CLOSE_LEASE, [SUBMITTED, annotation_id, _when(now), assignment_id])
