"""The hot path's hand-written SQL against the ORM queries that state the same rules: the queue's
candidates (annotate/queue_sql.py) against the queue's own progress counts and an ORM filter of
the documented rule, and the visibility condition against `visible_projects`. Both run on
PostgreSQL and SQLite. (The export and routing twins are held to theirs in
tests/test_export_api.py and tests/test_routing.py.)"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.utils import timezone
from psycopg.sql import SQL

from annotate import queue, queue_sql
from annotate.models import Assignment, AssignmentState, Item, Project, QueueOrder, Routing
from annotate.permissions import visible_projects, visible_sql
from annotate.rows import fetch_one, table, text
from curation.models import RoutingRun
from tests import factories

pytestmark = pytest.mark.django_db


def walk(project, annotator, now, order):
    """Every item the candidate statement offers this annotator, asking again without the ones seen."""
    seen = []
    while True:
        sql, params = queue_sql.candidate_sql(
            project, queue.collected_kinds(project), annotator.pk, now, gold=False, tried=seen, lock=None, order=order
        )
        found = queue_sql.first_id(sql, params)
        if found is None:
            return seen
        seen.append(found)


def orm_open_items(project, annotator, now):
    """The rule in annotate.queue's docstring, as an ORM filter."""
    live = Q(assignments__state=AssignmentState.LEASED, assignments__leased_until__gt=now)
    closed = Assignment.objects.filter(
        annotator=annotator, state__in=[AssignmentState.SUBMITTED, AssignmentState.SKIPPED]
    ).values("item_id")
    items = Item.objects.filter(
        project=project,
        is_gold=False,
        kind__in=queue.collected_kinds(project),
        routing__in=queue.human_routes(project),
        human_label_count__lt=project.overlap,
    ).exclude(pk__in=closed)
    return {
        i.pk for i in items if i.human_label_count + Item.objects.filter(pk=i.pk).filter(live).count() < project.overlap
    }


@pytest.mark.parametrize("routed", [False, True])
def test_queue_candidates_are_the_orm_rule(project, routed):
    project.overlap, project.feedback_kinds = 2, ["pairwise", "binary"]
    project.save()
    me, other = (queue.human_annotator(factories.user(n, project=project)) for n in ("me", "other"))
    routings = [Routing.UNROUTED, Routing.HUMAN, Routing.BOTH, Routing.JUDGE]
    items = [
        factories.item(project, kind=["pairwise", "binary", "edit"][n % 3], routing=routings[n % 4]) for n in range(24)
    ]
    factories.item(project, is_gold=True, gold_answer={"preference": 2})  # never a regular candidate
    if routed:
        RoutingRun.objects.create(project=project, budget=0.5)
    now = timezone.now()
    for n, item in enumerate(items):
        Item.objects.filter(pk=item.pk).update(human_label_count=n % 3)
        if n % 5 == 0:
            Assignment.objects.create(
                item=item, annotator=me, state=AssignmentState.SKIPPED, skip_reason="x", leased_until=now
            )
        elif n % 5 == 1:  # another annotator's live lease takes a slot; an expired one does not
            until = now + (timedelta(minutes=5) if n % 2 else -timedelta(minutes=5))
            Assignment.objects.create(item=item, annotator=other, state=AssignmentState.LEASED, leased_until=until)
    project = Project.objects.get(pk=project.pk)
    expected = orm_open_items(project, me, now)
    assert expected  # the rule leaves something to offer
    for order in QueueOrder.values:
        assert set(walk(project, me, now, order)) == expected, order
    # the queue's own progress counts (ORM) agree on the items open to this annotator, leases aside
    far = now + timedelta(days=1)
    assert queue.progress(project, me).mine_open == len(walk(project, me, far, QueueOrder.BREADTH))


def test_visibility_condition_is_visible_projects(project):
    other = factories.project()
    member = factories.user("member", project=project)
    outsider = factories.user("outsider")
    admin = factories.user("root", superuser=True)
    for user in (member, outsider, admin, AnonymousUser()):
        condition, params = visible_sql(user, "p.id")
        query = SQL("SELECT COUNT(*) FROM {} p WHERE p.id = %s AND {}").format(table(Project), condition)
        by_sql = {p.pk for p in (project, other) if fetch_one(text(query), [p.pk, *params])[0]}
        assert by_sql == set(visible_projects(user).filter(pk__in=[project.pk, other.pk]).values_list("pk", flat=True))
