"""The queue under real concurrency on PostgreSQL: many annotators, each on its own connection."""

import random
import threading
import uuid

import pytest
from django.db import connection, connections

from annotate import queue
from annotate.models import Annotation, Assignment, Item
from annotate.submit import submit
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

K = 2
ITEMS = 40
ANNOTATORS = 16

# One statement = one snapshot: labels plus live leases per item, at a single instant.
OCCUPANCY = """
SELECT i.id, i.human_label_count,
       (SELECT count(*) FROM annotate_annotation an WHERE an.item_id = i.id),
       (SELECT count(*) FROM annotate_assignment a
         WHERE a.item_id = i.id AND a.state = 'leased' AND a.leased_until > now())
FROM annotate_item i WHERE i.project_id = %s
"""


DOUBLE_LEASES = """
SELECT annotator_id, count(*) FROM annotate_assignment
WHERE state = 'leased' AND leased_until > now() GROUP BY annotator_id HAVING count(*) > 1
"""


@pytest.fixture
def busy_project(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED need PostgreSQL")
    project = factories.project(overlap=K)
    for n in range(ITEMS):
        factories.item(project, kind="binary", text_a=f"response {n}")
    users = [factories.user(f"racer{n}", project=project) for n in range(ANNOTATORS)]
    return project, [queue.human_annotator(u) for u in users]


@pytest.mark.parametrize("order", ["depth", "breadth"])
def test_no_item_over_k_labels_or_leases_under_concurrency(busy_project, order):
    project, annotators = busy_project
    project.queue_order = order
    project.save(update_fields=["queue_order"])
    violations, errors = [], []
    stop = threading.Event()
    barrier = threading.Barrier(len(annotators) + 1)

    def annotate(annotator, seed):
        rng = random.Random(seed)
        try:
            barrier.wait()
            while True:
                lease = queue.next_assignment(project, annotator)
                if lease is None:
                    return
                if rng.random() < 0.1:
                    queue.skip(lease, "not sure")
                    continue
                sid, data = uuid.uuid4(), {"thumbs": rng.choice(["up", "down"])}
                submit(lease, data, sid)
                if rng.random() < 0.3:  # a double click: must not count twice
                    _, created = submit(lease, data, sid)
                    assert not created
        except Exception as exc:  # surfaced below; a thread must never die silently
            errors.append(repr(exc))
        finally:
            connections.close_all()

    def watch():
        barrier.wait()
        try:
            with connections["default"].cursor() as cur:
                while not stop.is_set():
                    cur.execute(OCCUPANCY, [project.pk])
                    for item_id, counter, labels, leases in cur.fetchall():
                        if labels > K or counter > K or labels + leases > K:
                            violations.append((item_id, counter, labels, leases))
                    cur.execute(DOUBLE_LEASES)
                    violations.extend(("annotator with two live leases", *row) for row in cur.fetchall())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=annotate, args=(a, n)) for n, a in enumerate(annotators)]
    watcher = threading.Thread(target=watch)
    for t in threads + [watcher]:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    watcher.join(timeout=30)

    assert not errors, errors[:5]
    assert not violations, violations[:5]
    for item in Item.objects.filter(project=project):
        labels = Annotation.objects.filter(item=item).count()
        assert labels == item.human_label_count <= K
    # Every item reached k unless enough annotators skipped it; nobody labelled an item twice.
    skips = Assignment.objects.filter(state="skipped").count()
    assert Annotation.objects.count() >= ITEMS * K - skips
    assert Annotation.objects.values("item", "annotator").distinct().count() == Annotation.objects.count()


def race(action, n=8):
    """Run `action` in n threads released at the same instant, each on its own connection;
    returns (results, errors)."""
    results, errors = [], []
    barrier = threading.Barrier(n)

    def one():
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_double_submit_races_store_one_annotation(busy_project):
    project, annotators = busy_project
    lease = queue.next_assignment(project, annotators[0])
    sid = uuid.uuid4()
    results, errors = race(lambda: submit(queue.assignment_for(annotators[0], lease.pk), {"thumbs": "up"}, sid))
    assert not errors, errors
    assert len({a.pk for a, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Item.objects.get(pk=lease.item_id).human_label_count == 1


def test_same_annotator_racing_next_gets_one_lease(busy_project):
    project, annotators = busy_project
    me = annotators[0]
    got, errors = race(lambda: queue.next_assignment(project, me).pk)
    assert not errors, errors
    assert len(set(got)) == 1
    assert Assignment.objects.filter(annotator=me).count() == 1


def test_a_routing_run_holding_every_item_makes_next_wait_not_say_done(transactional_db):
    """Routing rewrites a project's items in one transaction. SKIP LOCKED alone would find nothing
    and tell annotators they are done; the queue waits for the holder and sees its result."""
    import time

    from django.db import transaction

    from annotate.models import Routing
    from curation.models import RoutingRun

    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED need PostgreSQL")
    project = factories.project(overlap=1)
    items = [factories.item(project, kind="binary") for _ in range(4)]
    RoutingRun.objects.create(project=project, strategy="judge_error", budget=0.5, curve=[], counts={}, model={})
    Item.objects.filter(project=project).update(routing=Routing.HUMAN)
    annotator = queue.human_annotator(factories.user("waiter", project=project))
    locked, done = threading.Event(), threading.Event()

    def routing_run():
        try:
            with transaction.atomic():
                list(Item.objects.select_for_update().filter(project=project).values_list("pk"))
                locked.set()
                time.sleep(1.0)
                Item.objects.filter(pk__in=[i.pk for i in items[:3]]).update(routing=Routing.JUDGE)
        finally:
            connections.close_all()
            done.set()

    holder = threading.Thread(target=routing_run)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    assignment = queue.next_assignment(project, annotator)
    waited = time.monotonic() - started
    holder.join()
    assert assignment is not None and assignment.item_id == items[3].pk  # the one still routed to people
    assert waited > 0.5  # it waited for the routing run rather than answering "done"
