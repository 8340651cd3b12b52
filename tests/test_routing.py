"""Routing: the learned router sends the budget where the judge is wrong, counts spent labels, routes
gold to both, explains itself, and the human queue is exactly what was routed to humans."""
import pytest

from annotate.models import HUMAN_ROUTES, Item, Routing
from curation import routing, routing_sim
from curation.models import ItemFeatures, RoutingRun
from tests import factories
from tests.routing_helpers import structured_project
from workers.models import RunState

pytestmark = pytest.mark.django_db


def human_queue(project):
    """What the annotation queue may offer (annotate's HUMAN_ROUTES), minus items already done."""
    return set(Item.objects.filter(project=project, routing__in=HUMAN_ROUTES, human_label_count__lt=project.overlap).values_list("pk", flat=True))


def test_router_sends_budget_to_items_where_the_judge_is_wrong(project):
    items, _, _ = structured_project(project, n=200, labelled=120)
    unlabelled = [(it, hard) for it, hard in items[120:]]
    assert human_queue(project) == {it.pk for it, _ in unlabelled}  # unrouted: humans see everything open
    hard_open = sum(h for _, h in unlabelled)
    run = routing.route_project(project, count=120 + hard_open)
    assert run.counts["human"] == 120 + hard_open and run.counts["judge"] == 80 - hard_open
    assert run.counts["training_items"] == 120 and run.model["router"]["kind"] == "logistic_regression"
    routed = {it.pk: Item.objects.get(pk=it.pk) for it, _ in unlabelled}
    # every open item the judge gets wrong goes to humans, every other one to the judge
    assert all((routed[it.pk].routing == Routing.HUMAN) == hard for it, hard in unlabelled)
    assert human_queue(project) == {it.pk for it, hard in unlabelled if hard}
    hard_item = next(routed[it.pk] for it, hard in unlabelled if hard)
    assert hard_item.route_reason["why"] == "budget" and hard_item.route_reason["top"][0][0] == "domain=math"
    assert hard_item.route_score > 0.5 > next(routed[it.pk] for it, h in unlabelled if not h).route_score
    assert Item.objects.get(pk=items[0][0].pk).route_reason["why"] == "spent"
    # the curve: 0 % = judges only, rising while humans fix judge errors
    curve = dict((b, q) for b, q in run.curve)
    assert len(run.curve) == 11 and curve[0.0] < curve[0.6]
    assert run.model["curves"]["router"][4][1] >= run.model["curves"]["random"][4][1]
    project.refresh_from_db()
    assert project.human_budget == run.budget


def test_budget_fraction_gold_both_and_baselines(project):
    items, _, _ = structured_project(project, n=60, labelled=30)
    gold = factories.item(project, is_gold=True, gold_answer={"preference": 2})
    ItemFeatures.objects.create(item=gold, values={}, tags={})
    for strategy in routing_sim.STRATEGIES:
        run = routing.route_project(project, budget=0.75, strategy=strategy, human_route=Routing.BOTH)
        assert run.counts["human"] == 45 and run.counts["gold"] == 1
        assert Item.objects.filter(project=project, routing=Routing.BOTH).count() == 46
        assert not Item.objects.filter(project=project, routing=Routing.UNROUTED).exists()
    assert RoutingRun.objects.filter(project=project).count() == 4
    with pytest.raises(ValueError):
        routing.route_project(project, budget=0.5, strategy="oracle")


def test_cold_start_ranks_by_judge_uncertainty(project):
    sure, unsure = factories.item(project), factories.item(project)
    ItemFeatures.objects.create(item=sure, values={"judge_count": 1, "judge_unparsed": 0.0, "judge_confidence": 0.95}, tags={})
    ItemFeatures.objects.create(item=unsure, values={"judge_count": 1, "judge_unparsed": 0.0, "judge_confidence": 0.2}, tags={})
    run = routing.route_project(project, count=1)
    assert run.model["router"]["kind"] == "cold_start"
    assert Item.objects.get(pk=unsure.pk).routing == Routing.HUMAN and Item.objects.get(pk=sure.pk).routing == Routing.JUDGE


def test_routing_refuses_items_without_features(project):
    factories.item(project)
    with pytest.raises(ValueError, match="no features"):
        routing.route_project(project, budget=0.5)


def test_routing_task_computes_missing_features_first(project):
    from workers.tasks.routing import start_routing

    items = [factories.item(project, text_a=f"Answer {i}", text_b=f"Other answer {i}") for i in range(4)]
    run = start_routing(project, budget=0.5)
    assert run.state == RunState.SUCCEEDED, run.error
    assert ItemFeatures.objects.filter(item__in=items).count() == 4
    assert run.metrics["human"] == 2 and Item.objects.filter(routing=Routing.HUMAN).count() == 2
    assert routing.spend(project)["routed_to_humans"] == 2


def test_human_accuracy_from_agreement():
    assert routing_sim.human_accuracy_from_agreement(0.82) == pytest.approx(0.9)
    assert routing_sim.human_accuracy_from_agreement(0.4) is None
    assert routing_sim.judge_wrong_from_disagreement(0.18, 0.9) == pytest.approx(0.1)


def test_reroute_when_enough_new_human_labels_arrive(project):
    from django_celery_beat.models import PeriodicTask

    from annotate.models import Annotation
    from workers.tasks.routing import reroute_stale_projects

    assert PeriodicTask.objects.filter(task="workers.tasks.routing.reroute_stale_projects").exists()
    items, _, user = structured_project(project, n=60, labelled=30)
    first = routing.route_project(project, budget=0.7)
    assert reroute_stale_projects(min_new_labels=5) == []  # nothing new yet
    human = factories.human(user)
    for item, hard in items[30:40]:
        Annotation.objects.create(item=item, annotator=human, kind="pairwise", preference=2)
    Item.objects.filter(pk__in=[it.pk for it, _ in items[30:40]]).update(human_label_count=1)
    assert reroute_stale_projects(min_new_labels=5) == [project.pk]
    latest = RoutingRun.objects.filter(project=project).first()
    assert latest.pk != first.pk and latest.budget == first.budget and latest.counts["training_items"] == 40


def test_routing_an_empty_project_records_an_empty_run(project):
    run = routing.route_project(project, budget=0.3)
    assert run.counts["items"] == 0 and run.budget == 0 and all(q is None for _, q in run.curve)


def test_humans_get_exactly_the_items_routed_to_them(project):
    from annotate import queue

    items, _, _ = structured_project(project, n=50, labelled=20)
    annotator = queue.human_annotator(factories.user("reader", project=project))

    def drain():
        seen = []
        while (a := queue.next_assignment(project, annotator)) is not None:
            seen.append(a.item_id)
            queue.skip(a, "just looking")
        return set(seen)

    before = drain()  # unrouted: every open item is human work
    assert before == {it.pk for it, _ in items[20:]}
    run = routing.route_project(project, budget=0.5)
    annotator2 = queue.human_annotator(factories.user("reader2", project=project))
    annotator = annotator2
    routed = set(Item.objects.filter(project=project, routing__in=[Routing.HUMAN, Routing.BOTH], human_label_count=0).values_list("pk", flat=True))
    assert len(routed) == run.counts["human"] - run.counts["spent"] == 5
    assert drain() == routed


def test_items_no_judge_could_label_go_to_humans_first(project):
    """A judge whose replies never parse leaves items with no label at all: people label those first,
    and what the budget cannot cover is marked as such, never passed off as judged."""
    items, _, _ = structured_project(project, n=60, labelled=30)
    blank = [factories.item(project) for _ in range(4)]
    for item in blank[:2]:  # judged, but every reply unparsed
        ItemFeatures.objects.create(item=item, values={"judge_count": 2, "judge_unparsed": 1.0}, tags={})
    for item in blank[2:]:  # never judged
        ItemFeatures.objects.create(item=item, values={}, tags={})
    run = routing.route_project(project, count=30 + 3)
    assert run.counts["unjudged"] == 4
    routed = [Item.objects.get(pk=item.pk) for item in blank]
    assert sum(item.routing == Routing.HUMAN for item in routed) == 3
    assert sorted(item.route_reason["why"] for item in routed) == ["unjudged"] * 3 + ["unjudged_over_budget"]
    assert all(item.route_score == 1.0 for item in routed)
