import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate import queue
from annotate.models import Annotation, Assignment, Item
from annotate.submit import SubmissionConflict, SubmissionError, submit
from tests import factories

pytestmark = pytest.mark.django_db


def _lease(project, kind="pairwise", swapped=None, **item_fields):
    item = factories.item(project, kind=kind, **item_fields)
    ann = queue.human_annotator(factories.user(project=project))
    a = Assignment.objects.create(
        item=item, annotator=ann, leased_until=timezone.now() + timedelta(minutes=5), swapped=bool(swapped)
    )
    return queue.assignment_for(ann, a.pk)


@pytest.mark.parametrize("swapped", [False, True])
def test_pairwise_display_order_stored_canonical(project, swapped):
    lease = _lease(project, swapped=swapped)
    data = {"preference": -2, "aspects": {"helpfulness": {"left": 5, "right": 2}}, "rationale": "  left is right  "}
    annotation, created = submit(lease, data, uuid.uuid4(), time_spent_ms=4200)
    assert created
    annotation.refresh_from_db()
    assert annotation.swapped is swapped
    if swapped:  # left was B
        assert annotation.preference == 2
        assert annotation.aspect_ratings == {"helpfulness": {"a": 2, "b": 5}}
    else:
        assert annotation.preference == -2
        assert annotation.aspect_ratings == {"helpfulness": {"a": 5, "b": 2}}
    assert annotation.rationale == "left is right"
    assert annotation.time_spent_ms == 4200
    item = Item.objects.get(pk=lease.item_id)
    assert item.human_label_count == 1
    assert Assignment.objects.get(pk=lease.pk).state == "submitted"


@pytest.mark.parametrize(
    "data,field",
    [
        ({}, "preference"),
        ({"preference": 4}, "preference"),
        ({"preference": "x"}, "preference"),
        ({"preference": 0, "aspects": {"style": {"left": 3}}}, "aspects"),
        ({"preference": 0, "aspects": {"helpfulness": {"left": 9}}}, "aspect:helpfulness:left"),
    ],
)
def test_pairwise_invalid(project, data, field):
    lease = _lease(project)
    with pytest.raises(SubmissionError) as err:
        submit(lease, data, uuid.uuid4())
    assert field in err.value.errors
    assert not Annotation.objects.exists()
    assert Item.objects.get(pk=lease.item_id).human_label_count == 0


def test_binary_principles_subset_and_only_with_thumbs_down(project):
    lease = _lease(project, kind="binary")
    with pytest.raises(SubmissionError, match="not principles"):
        submit(lease, {"thumbs": "down", "failed_principles": ["Be evil"]}, uuid.uuid4())
    with pytest.raises(SubmissionError, match="thumbs down"):
        submit(lease, {"thumbs": "up", "failed_principles": ["Be honest"]}, uuid.uuid4())
    with pytest.raises(SubmissionError, match="thumbs"):
        submit(lease, {"thumbs": "sideways"}, uuid.uuid4())
    annotation, _ = submit(
        lease,
        {"thumbs": "down", "failed_principles": ["Follow the instructions", "Be honest"], "reason": "made up"},
        uuid.uuid4(),
    )
    assert annotation.failed_principles == ["Be honest", "Follow the instructions"]  # project order
    assert annotation.reason == "made up"


def test_edit_must_be_nonempty_and_stores_diff(project):
    lease = _lease(project, kind="edit", text_a="The cat sat on the mat.")
    with pytest.raises(SubmissionError, match="required"):
        submit(lease, {"edited_text": "   "}, uuid.uuid4())
    annotation, _ = submit(lease, {"edited_text": "The dog sat on the mat."}, uuid.uuid4())
    annotation.refresh_from_db()
    assert ["replace", "cat", "dog"] in annotation.diff
    assert annotation.edit_distance == pytest.approx(1 / 6)


def test_accept_as_is_is_a_zero_cost_edit(project):
    """CIPHER's zero-cost branch: the response accepted unchanged is stored, with distance 0."""
    lease = _lease(project, kind="edit", text_a="The cat sat on the mat.")
    annotation, created = submit(
        lease, {"edited_text": "The cat sat on the mat.\r\n", "accept_as_is": True}, uuid.uuid4()
    )
    annotation.refresh_from_db()
    assert created and annotation.edited_text == "The cat sat on the mat."
    assert annotation.edit_distance == 0 and all(op[0] == "equal" for op in annotation.diff)


def test_double_submit_is_one_annotation_and_conflict_is_refused(project):
    lease = _lease(project, kind="binary")
    sid = uuid.uuid4()
    first, created = submit(lease, {"thumbs": "up"}, sid)
    again, created_again = submit(queue.assignment_for(lease.annotator, lease.pk), {"thumbs": "up"}, str(sid))
    assert created and not created_again and first.pk == again.pk
    assert Annotation.objects.count() == 1
    assert Item.objects.get(pk=lease.item_id).human_label_count == 1
    with pytest.raises(SubmissionConflict):
        submit(lease, {"thumbs": "down"}, sid)
    with pytest.raises(SubmissionError, match="already labelled"):
        submit(lease, {"thumbs": "up"}, uuid.uuid4())
    with pytest.raises(SubmissionError, match="submission id"):
        submit(lease, {"thumbs": "up"}, "not-a-uuid")


def test_skipped_cannot_be_submitted(project):
    lease = _lease(project, kind="binary")
    queue.skip(lease, "offensive")
    with pytest.raises(SubmissionError, match="skipped"):
        submit(lease, {"thumbs": "up"}, uuid.uuid4())


def test_expired_lease_submit_accepted_only_if_slot_still_free(project):
    lease = _lease(project, kind="binary")
    Assignment.objects.filter(pk=lease.pk).update(leased_until=timezone.now() - timedelta(minutes=1))
    rival = queue.human_annotator(factories.user(project=project))
    assert queue.next_assignment(project, rival).item_id == lease.item_id  # slot returned to the pool
    stale = queue.assignment_for(lease.annotator, lease.pk)
    with pytest.raises(SubmissionError, match="expired"):
        submit(stale, {"thumbs": "up"}, uuid.uuid4())
    # Once the rival gives it back, the late submission is welcome.
    queue.skip(queue.next_assignment(project, rival), "no idea")
    annotation, created = submit(stale, {"thumbs": "up"}, uuid.uuid4())
    assert created


def test_time_spent_falls_back_to_server_clock(project):
    lease = _lease(project, kind="binary")
    annotation, _ = submit(lease, {"thumbs": "up"}, uuid.uuid4(), time_spent_ms="garbage")
    assert annotation.time_spent_ms is not None and annotation.time_spent_ms >= 0


def test_gold_submission_records_correctness(project):
    from annotate import gold

    lease = _lease(project, kind="binary")
    gold.mark_gold(lease.item, {"thumbs": "down"})
    lease = queue.assignment_for(lease.annotator, lease.pk)
    annotation, _ = submit(lease, {"thumbs": "up"}, uuid.uuid4())
    assert annotation.details == {"gold_correct": False}


def test_query_counts_for_next_and_submit(project, django_assert_max_num_queries):
    for _ in range(20):
        factories.item(project, kind="binary")
    ann = queue.human_annotator(factories.user(project=project))
    project = type(project).objects.get(pk=project.pk)
    from django.db import connection

    extra = 1 if connection.vendor == "sqlite" else 0  # SQLite's write lock is one more statement
    # next: live lease (with the form's content)?; then under the annotator lock (PostgreSQL:
    # the lock also turns off the synchronous commit) or the write lock (SQLite): live lease
    # again, candidate (locked), counted grant; the form's content; the test's savepoint pair.
    with django_assert_max_num_queries(8):
        lease = queue.next_assignment(project, ann)
    # submit: locked assignment+item, insert, count, close; savepoint pair.
    with django_assert_max_num_queries(6 + extra):
        submit(lease, {"thumbs": "up"}, uuid.uuid4())
    with django_assert_max_num_queries(8):
        second = queue.next_assignment(project, ann)
    with django_assert_max_num_queries(1):  # resuming a live lease is one indexed query
        assert queue.next_assignment(project, ann).pk == second.pk != lease.pk
