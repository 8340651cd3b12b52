"""The queue's hot statements, written once in SQL that PostgreSQL and SQLite both run.

Every annotator request passes through these (a lease, a label), so each is one round trip
with no ORM query compilation: on a busy server that compilation cost more CPU than PostgreSQL
spent answering. The rules they encode are documented in `annotate.queue`; the tests there and
in tests/test_queue_concurrency.py hold them to it.
"""

from django.db import connection

from annotate.models import Annotator, Assignment, AssignmentState, Item, Project, Prompt, QueueOrder, Response, Routing
from annotate.rows import fetch_one, reader
from annotate.rows import table as _table
from curation.models import RoutingRun

LEASED, SUBMITTED, SKIPPED = AssignmentState.LEASED, AssignmentState.SUBMITTED, AssignmentState.SKIPPED
DEPTH_WINDOW = 200  # open items "complete to k first" looks at before falling back to breadth order


def _when(value):
    """A datetime as the backend stores it (SQLite compares naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _marks(values):
    return ", ".join(["%s"] * len(values))


def lock_annotator(annotator_id):
    """PostgreSQL: serialise one annotator's lease requests (a double click, two tabs) on their
    row, and commit this lease transaction asynchronously, in one statement. A lease is ephemeral:
    if the server crashes right after granting one, the item simply returns to the pool, so its
    commit need not wait for the WAL flush (visibility is unchanged; labels stay synchronous)."""
    fetch_one(
        f"SELECT set_config('synchronous_commit', 'off', true) FROM {_table(Annotator)} WHERE id = %s FOR UPDATE",
        [annotator_id],
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
    row = fetch_one(
        f"""SELECT {a.columns}, {i.columns}, {p.columns}, {ra.columns}, {rb.columns}
            FROM {_table(Assignment)} a JOIN {_table(Item)} i ON i.id = a.item_id
            JOIN {_table(Prompt)} p ON p.id = i.prompt_id JOIN {_table(Response)} ra ON ra.id = i.response_a_id
            LEFT JOIN {_table(Response)} rb ON rb.id = i.response_b_id
            WHERE {where} ORDER BY a.created_at LIMIT 1""",
        params,
    )
    if row is None:
        return None
    assignment = _read_linked(row, a, i, ("prompt", p), ("response_a", ra), ("response_b", rb))
    assignment.item.project = project
    return assignment


def live_lease_where(project_id, annotator_id, now):
    return (
        "a.annotator_id = %s AND i.project_id = %s AND a.state = %s AND a.leased_until > %s",
        [annotator_id, project_id, LEASED, _when(now)],
    )


def own_assignment(annotator_id, assignment_id, visible=None):
    """The annotator's assignment with its item and project, or None. With `visible` (an SQL
    condition on `i.project_id` and its parameters, from `permissions.visible_sql`), also None
    unless it holds."""
    a, i, p = _readers((Assignment, "a"), (Item, "i"), (Project, "p"))
    sql = f"""SELECT {a.columns}, {i.columns}, {p.columns}
        FROM {_table(Assignment)} a JOIN {_table(Item)} i ON i.id = a.item_id JOIN {_table(Project)} p ON p.id = i.project_id
        WHERE a.id = %s AND a.annotator_id = %s"""
    params = [assignment_id, annotator_id]
    if visible is not None:
        sql += f" AND {visible[0]}"
        params += visible[1]
    row = fetch_one(sql, params)
    return None if row is None else _read_linked(row, a, i, ("project", p))


def live_lease_id(project_id, annotator_id, now):
    where, params = live_lease_where(project_id, annotator_id, now)
    return first_id(
        f"SELECT a.id FROM {_table(Assignment)} a JOIN {_table(Item)} i ON i.id = a.item_id WHERE {where} ORDER BY a.created_at LIMIT 1",
        params,
    )


def _live_leases(now):
    """SQL for the number of live leases on item `i`, with its parameters."""
    return (
        f"(SELECT COUNT(*) FROM {_table(Assignment)} l WHERE l.item_id = i.id AND l.state = %s AND l.leased_until > %s)",
        [LEASED, _when(now)],
    )


def _offered_to_people():
    """Items routed to people, or not routed while the project has never had a routing run."""

    return (
        f"""(i.routing IN (%s, %s) OR (i.routing = %s AND NOT EXISTS (
                SELECT 1 FROM {_table(RoutingRun)} r WHERE r.project_id = i.project_id)))""",
        [Routing.HUMAN, Routing.BOTH, Routing.UNROUTED],
    )


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
    routed, routed_params = _offered_to_people()
    source, params = f"{_table(Item)} i", []
    depth = not gold and (order or project.queue_order) != QueueOrder.BREADTH
    if depth:  # the window, already in order: the outer walk keeps that order and stops at the first match
        source = f"""(SELECT j.id AS wid, j.human_label_count AS wcount FROM {_table(Item)} j
                      WHERE j.project_id = %s AND j.is_gold = %s AND j.human_label_count < %s
                      ORDER BY j.human_label_count DESC, j.id LIMIT %s) w JOIN {_table(Item)} i ON i.id = w.wid"""
        params += [project.pk, False, project.overlap, DEPTH_WINDOW]
    sql = f"""SELECT i.id FROM {source}
        WHERE i.project_id = %s AND i.is_gold = %s AND i.kind IN ({_marks(kinds)}) AND {routed}
          AND NOT EXISTS (SELECT 1 FROM {_table(Assignment)} d
                          WHERE d.item_id = i.id AND d.annotator_id = %s AND d.state IN (%s, %s))"""
    params += [project.pk, gold, *kinds, *routed_params, annotator_id, SUBMITTED, SKIPPED]
    if gold:
        order_by = "i.id"
    else:
        leases, lease_params = _live_leases(now)
        sql += f" AND i.human_label_count < %s AND i.human_label_count + {leases} < %s"
        params += [project.overlap, *lease_params, project.overlap]
        order_by = "w.wcount DESC, w.wid" if depth else "i.human_label_count, i.id"
    if tried:
        sql += f" AND i.id NOT IN ({_marks(tried)})"
        params += list(tried)
    sql += f" ORDER BY {order_by} LIMIT 1"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE OF i" + (" SKIP LOCKED" if lock == "skip" else "")
    return sql, params


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
    table = _table(Assignment)
    params = [annotator_id, LEASED, _when(until), swapped, _when(now), _when(now), item_id]
    capacity = ""
    if overlap is not None:
        leases, lease_params = _live_leases(now)
        capacity = f" AND i.human_label_count + {leases} < %s"
        params += [*lease_params, overlap]
    row = fetch_one(
        f"""INSERT INTO {table} (item_id, annotator_id, state, leased_until, swapped, skip_reason, draft, created_at, updated_at)
            SELECT i.id, %s, %s, %s, %s, '', '{{}}', %s, %s FROM {_table(Item)} i WHERE i.id = %s{capacity}
            ON CONFLICT (item_id, annotator_id) DO UPDATE SET state = excluded.state, leased_until = excluded.leased_until,
                swapped = excluded.swapped, draft = excluded.draft, updated_at = excluded.updated_at
            WHERE {table}.state = %s
            RETURNING id""",
        params + [LEASED],
    )
    return row[0] if row else None


def locked_for_submit(assignment_id):
    """The assignment as it is now and its item's label count, with the item row locked on
    PostgreSQL (SQLite callers hold the database write lock)."""
    a = reader(Assignment, "a")
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update else ""
    row = fetch_one(
        f"""SELECT {a.columns}, i.human_label_count
            FROM {_table(Assignment)} a JOIN {_table(Item)} i ON i.id = a.item_id WHERE a.id = %s{lock}""",
        [assignment_id],
    )
    if row is None:
        raise Assignment.DoesNotExist(assignment_id)
    return a.read(row), row[a.width]


def close_with_label(assignment_id, item_id, annotation_id, now):
    """Count the label on its item and close the lease (the item row is locked by the caller)."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_table(Item)} SET human_label_count = human_label_count + 1 WHERE id = %s", [item_id])
        cursor.execute(
            f"UPDATE {_table(Assignment)} SET state = %s, annotation_id = %s, draft = '{{}}', updated_at = %s WHERE id = %s",
            [SUBMITTED, annotation_id, _when(now), assignment_id],
        )
