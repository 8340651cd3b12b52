from datetime import timedelta

import pytest
from django.utils import timezone

from annotate import gold, queue
from annotate.models import Assignment, Item
from annotate.submit import submit
from tests import factories

pytestmark = pytest.mark.django_db


def _who(name, project):
    return queue.human_annotator(factories.user(name, project=project))


def test_next_gives_fewest_labelled_item_and_resumes_live_lease(project):
    first, second = factories.item(project), factories.item(project)
    Item.objects.filter(pk=first.pk).update(human_label_count=0)
    Item.objects.filter(pk=second.pk).update(human_label_count=0)
    ann = _who("a1", project)
    lease = queue.next_assignment(project, ann)
    assert lease.item_id == first.pk
    assert lease.leased_until > timezone.now() + timedelta(minutes=project.lease_minutes - 1)
    # Asking again resumes the same lease instead of handing out a second item.
    assert queue.next_assignment(project, ann).pk == lease.pk
    assert Assignment.objects.filter(annotator=ann).count() == 1


def test_overlap_caps_leases_and_expired_leases_return(project):
    project.overlap = 2
    project.save()
    item = factories.item(project)
    a, b, c = (_who(n, project) for n in ("a", "b", "c"))
    assert queue.next_assignment(project, a).item_id == item.pk
    assert queue.next_assignment(project, b).item_id == item.pk
    assert queue.next_assignment(project, c) is None  # k=2 slots both leased
    Assignment.objects.filter(annotator=a).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert queue.next_assignment(project, c).item_id == item.pk


def test_labelled_and_skipped_items_not_offered_again(project):
    project.overlap = 3
    project.save()
    one, two = factories.item(project, kind="binary"), factories.item(project, kind="binary")
    ann = _who("a", project)
    lease = queue.next_assignment(project, ann)
    submit(lease, {"thumbs": "up"}, submission_id="00000000-0000-0000-0000-000000000001")
    lease = queue.next_assignment(project, ann)
    assert lease.item_id == two.pk
    with pytest.raises(queue.QueueError):
        queue.skip(lease, "  ")
    queue.skip(lease, "I cannot judge code")
    assert queue.next_assignment(project, ann) is None
    assert Assignment.objects.get(pk=lease.pk).skip_reason == "I cannot judge code"
    assert Item.objects.get(pk=one.pk).human_label_count == 1


def test_routing_judge_only_never_offered_and_unrouted_until_first_routing_run(project):
    from curation.models import RoutingRun

    judge_only = factories.item(project, routing="judge")
    unrouted = factories.item(project)
    both = factories.item(project, routing="both")
    ann = _who("a", project)
    seen = set()
    while (lease := queue.next_assignment(project, ann)) is not None:
        seen.add(lease.item_id)
        queue.skip(lease, "x")
    assert seen == {unrouted.pk, both.pk}
    assert judge_only.pk not in seen

    RoutingRun.objects.create(project=project, budget=0.5)
    newcomer = _who("b", project)
    seen = set()
    while (lease := queue.next_assignment(project, newcomer)) is not None:
        seen.add(lease.item_id)
        queue.skip(lease, "x")
    assert seen == {both.pk}


def test_other_projects_items_never_offered(project):
    other = factories.project()
    factories.item(other)
    assert queue.next_assignment(project, _who("a", project)) is None


def test_gold_mixed_in_at_rate_deterministically_and_exempt_from_overlap(project):
    project.gold_rate = 0.3
    project.overlap = 1
    project.save()
    # 80 regular items: enough for both annotators' 40 leases however few gold turns the hash gives
    for _ in range(80):
        factories.item(project, kind="binary")
    golds = [gold.mark_gold(factories.item(project, kind="binary"), {"thumbs": "up"}) for _ in range(30)]
    gold_ids = {g.pk for g in golds}

    def run(ann):
        order = []
        for _ in range(40):
            lease = queue.next_assignment(project, ann)
            order.append(lease.item_id in gold_ids)
            submit(
                lease,
                {"thumbs": "down" if len(order) % 2 else "up"},
                submission_id=f"00000000-0000-0000-0000-{len(order):012d}",
            )
        return order

    first = run(_who("a", project))
    share = sum(first) / len(first)
    assert 0.1 < share < 0.55
    # Gold items ignore overlap k=1: a second annotator still gets gold.
    second = run(_who("b", project))
    assert sum(second) > 0


def test_gold_accuracy_by_direction_and_thumbs(project):
    pair = gold.mark_gold(factories.item(project), {"preference": -2})
    thumbs = gold.mark_gold(factories.item(project, kind="binary"), {"thumbs": "down"})
    good, bad = _who("good", project), _who("bad", project)
    for ann, pref, th in ((good, -1, "down"), (bad, 0, "down")):
        for item in (pair, thumbs):
            lease = Assignment.objects.create(
                item=item, annotator=ann, leased_until=timezone.now() + timedelta(minutes=5)
            )
            lease = queue.assignment_for(ann, lease.pk)
            data = {"preference": pref} if item.kind == "pairwise" else {"thumbs": th}
            if lease.swapped and item.kind == "pairwise":
                data["preference"] = -pref
            submit(lease, data, submission_id=f"00000000-0000-0000-0000-{item.pk:06d}{ann.pk:06d}")
    rows = {r["annotator"]: r for r in gold.gold_accuracy(project)}
    assert rows["good"]["accuracy"] == 1.0 and rows["good"]["answered"] == 2
    assert rows["bad"]["accuracy"] == 0.5


def test_gold_answer_validated(project):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        gold.mark_gold(factories.item(project), {"preference": 7})
    with pytest.raises(ValidationError):
        gold.mark_gold(factories.item(project, kind="edit"), {"thumbs": "up"})
    item = gold.mark_gold(factories.item(project, kind="binary"), {"thumbs": "up"})
    gold.unmark_gold(item)
    item.refresh_from_db()
    assert not item.is_gold and item.gold_answer is None


def test_progress_counts(project):
    project.overlap = 2
    project.save()
    for _ in range(3):
        factories.item(project, kind="binary")
    ann = _who("a", project)
    lease = queue.next_assignment(project, ann)
    submit(lease, {"thumbs": "up"}, submission_id="00000000-0000-0000-0000-0000000000aa")
    p = queue.progress(project, ann)
    assert p.project_labels == 1 and p.project_labels_wanted == 6
    assert p.mine_done == 1 and p.mine_open == 2


def test_draft_saved_renews_lease_and_rejected_after_submit(project):
    factories.item(project, kind="edit", text_a="hello world")
    ann = _who("a", project)
    lease = queue.next_assignment(project, ann)
    Assignment.objects.filter(pk=lease.pk).update(leased_until=timezone.now() + timedelta(minutes=1))
    lease = queue.assignment_for(ann, lease.pk)
    queue.save_draft(lease, {"edited_text": "hello there world"})
    back = queue.next_assignment(project, ann)
    assert back.pk == lease.pk and back.draft == {"edited_text": "hello there world"}
    assert back.leased_until > timezone.now() + timedelta(minutes=project.lease_minutes - 1)
    submit(back, {"edited_text": "hello there world"}, submission_id="00000000-0000-0000-0000-0000000000ab")
    assert Assignment.objects.get(pk=lease.pk).draft == {}
    with pytest.raises(queue.QueueError):
        queue.save_draft(back, {"edited_text": "again"})


def test_only_the_projects_feedback_kinds_are_offered(project):
    project.feedback_kinds = ["binary"]
    project.save()
    factories.item(project, kind="pairwise")
    binary = factories.item(project, kind="binary")
    ann = _who("a", project)
    assert queue.next_assignment(project, ann).item_id == binary.pk
    queue.skip(queue.next_assignment(project, ann), "x")
    assert queue.next_assignment(project, ann) is None
    assert queue.progress(project, ann).project_items == 1


def _alternate(project, rounds):
    """Two annotators ask for an item and label it, taking turns; returns each item's label count."""
    a, b = _who("alt-a", project), _who("alt-b", project)
    n = 0
    for _ in range(rounds):
        for ann in (a, b):
            n += 1
            submit(
                queue.next_assignment(project, ann), {"thumbs": "up"}, submission_id=f"00000000-0000-0000-0000-{n:012d}"
            )
    return dict(Item.objects.filter(project=project).order_by("id").values_list("id", "human_label_count"))


def test_depth_first_is_the_default_and_brings_the_first_items_to_k(project):
    assert project.queue_order == "depth"
    project.overlap = 2
    project.save()
    items = [factories.item(project, kind="binary").pk for _ in range(10)]
    counts = _alternate(project, rounds=4)  # 8 labels
    # The first items labelled reach two labels one after another: agreement is measurable at once.
    assert [counts[i] for i in items] == [2, 2, 2, 2, 0, 0, 0, 0, 0, 0]
    reached = queue.overlap_progress(project)
    assert (reached.k, reached.items, reached.reached_k, reached.partial, reached.unlabelled) == (2, 10, 4, 0, 6)


def test_depth_first_sends_a_newcomer_to_items_someone_already_labelled(project):
    project.overlap = 2
    project.save()
    items = [factories.item(project, kind="binary").pk for _ in range(6)]
    early = _who("early", project)
    for n in range(3):
        submit(
            queue.next_assignment(project, early), {"thumbs": "up"}, submission_id=f"00000000-0000-0000-0001-{n:012d}"
        )
    late = _who("late", project)
    assert queue.next_assignment(project, late).item_id == items[0]


def test_breadth_first_keeps_fewest_labels_first(project):
    project.overlap = 2
    project.queue_order = "breadth"
    project.save()
    items = [factories.item(project, kind="binary").pk for _ in range(10)]
    counts = _alternate(project, rounds=4)
    # Every item gets one label before any gets a second (the order before queue_order existed).
    assert [counts[i] for i in items] == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert queue.overlap_progress(project).reached_k == 0


def test_depth_first_still_never_exceeds_k(project):
    project.overlap = 2
    project.save()
    item = factories.item(project)
    a, b, c = (_who(n, project) for n in ("a", "b", "c"))
    assert queue.next_assignment(project, a).item_id == item.pk
    assert queue.next_assignment(project, b).item_id == item.pk
    assert queue.next_assignment(project, c) is None


def test_depth_first_window_falls_back_to_fresh_items_for_an_annotator_far_ahead(project, monkeypatch):
    from annotate import queue_sql

    monkeypatch.setattr(queue_sql, "DEPTH_WINDOW", 3)
    project.overlap = 2
    project.save()
    items = [factories.item(project, kind="binary").pk for _ in range(6)]
    ahead = _who("ahead", project)
    for n in range(4):  # the head of the depth order is now four items waiting for someone else
        submit(
            queue.next_assignment(project, ahead), {"thumbs": "up"}, submission_id=f"00000000-0000-0000-0003-{n:012d}"
        )
    assert queue.next_assignment(project, ahead).item_id == items[4]  # not "done": the unlabelled items
    assert queue.next_assignment(project, _who("other", project)).item_id == items[0]


def test_admin_sets_the_queue_order(project, admin_user, client):
    client.force_login(admin_user)
    page = client.get(f"/admin/annotate/project/{project.pk}/change/").content.decode()
    assert 'name="queue_order"' in page and "Complete items to k first" in page
    data = {
        "name": project.name,
        "overlap": 2,
        "queue_order": "breadth",
        "human_budget": 1,
        "gold_rate": 0,
        "lease_minutes": 10,
        "pair_strategy": project.pair_strategy,
        "feedback_kinds": '["binary"]',
        "aspects": "[]",
        "principles": "[]",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    response = client.post(f"/admin/annotate/project/{project.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.queue_order == "breadth"
    data["queue_order"] = "sideways"
    assert client.post(f"/admin/annotate/project/{project.pk}/change/", data).status_code == 200  # refused, shown again
    project.refresh_from_db()
    assert project.queue_order == "breadth"
