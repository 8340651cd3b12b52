"""Routing service: a random calibration slice drawn before routing and disjoint from what routing
chooses; routers learn only there (and on gold); spent labels count; gold and the slice go to both;
every run stores measured curves; imported labels count as human only when declared so."""

import numpy as np
import pytest

from annotate.models import HUMAN_ROUTES, Annotation, Annotator, AnnotatorKind, Item, LabelKind, Routing
from curation import calibration, routing, routing_sim
from curation.models import ItemFeatures, RoutingRun
from tests import factories
from tests.routing_helpers import structured_project
from workers.models import RunState

pytestmark = pytest.mark.django_db
FAST = {
    "curve_seeds": 2,
    "n_mixes": 25,
    "calibration_fraction": 0.0,
    "calibration_minimum": 0,
}  # keep the slice the helper drew


def human_queue(project):
    """What the annotation queue may offer (annotate's HUMAN_ROUTES), minus items already done."""
    return set(
        Item.objects.filter(
            project=project, routing__in=HUMAN_ROUTES, human_label_count__lt=project.overlap
        ).values_list("pk", flat=True)
    )


def test_judge_error_strategy_sends_budget_to_items_where_the_judge_is_wrong(project):
    items, _, _ = structured_project(project, n=200, calibration_fraction=0.4)
    in_slice = set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True))
    open_items = [(it, hard) for it, hard in items if it.pk not in in_slice]
    hard_open = sum(h for _, h in open_items)
    run = routing.route_project(project, count=len(in_slice) + hard_open, strategy="judge_error", **FAST)
    assert run.counts["calibration"] == len(in_slice) == 80 and run.counts["spent"] == 0
    assert run.counts["human"] == hard_open and run.model["routers"]["judge_error"]["kind"] == "logistic_regression"
    routed = {it.pk: Item.objects.get(pk=it.pk) for it, _ in open_items}
    # every open item the judge gets wrong goes to humans, every other one to the judge
    assert all((routed[it.pk].routing == Routing.HUMAN) == hard for it, hard in open_items)
    hard_item = next(routed[it.pk] for it, hard in open_items if hard)
    assert hard_item.route_reason["why"] == "budget" and hard_item.route_reason["top"][0][0] == "domain=math"
    assert hard_item.route_score > 0.5 > next(routed[it.pk] for it, h in open_items if not h).route_score
    # the measured curves: every strategy, mean and sd per budget, all-human and all-judge
    measured = run.model["measured_curves"]
    assert measured["measured"] and measured["seeds"] == 2 and len(measured["budgets"]) == 11
    assert set(measured["mean"]) == set(routing_sim.STRATEGIES) and measured["all_human"][0] is not None
    assert run.curve == [[b, m] for b, m in zip(measured["budgets"], measured["mean"]["judge_error"])]
    assert set(run.model["predicted_curves"]) == {"judge_error", "random"}  # kept apart, labelled as predictions
    project.refresh_from_db()
    assert project.human_budget == run.budget


def test_calibration_slice_is_random_and_disjoint_from_what_routing_chooses(project):
    items, _, _ = structured_project(project, n=120, calibration_fraction=0.25)
    hard = {it.pk for it, h in items if h}
    first = set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True))
    assert len(first) == 30
    run = routing.route_project(project, budget=0.5, strategy="judge_error", **FAST)
    # the slice routing found is the one drawn before it; it goes to both, never counts as "budget"
    chosen = set(Item.objects.filter(project=project, route_reason__why="budget").values_list("pk", flat=True))
    assert set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True)) == first
    assert chosen and not chosen & first and run.counts["human"] == 30
    assert set(Item.objects.filter(project=project, routing=Routing.BOTH).values_list("pk", flat=True)) == first
    # routing chose hard items (the judge-error model found them); the slice did not
    assert len(chosen & hard) / len(chosen) > 0.6
    # random: over many draws every item is as likely to be in the slice, hard or not
    ids = [it.pk for it, _ in items]
    hits = dict.fromkeys(ids, 0)
    for seed in range(40):
        Item.objects.filter(project=project).update(calibration=False)
        for pk in calibration.ensure_slice(project, 0.25, minimum=0, seed=seed):
            hits[pk] += 1
    rate = np.array([hits[pk] for pk in ids]) / 40
    assert abs(rate.mean() - 0.25) < 1e-9
    assert abs(rate[[pk in hard for pk in ids]].mean() - rate[[pk not in hard for pk in ids]].mean()) < 0.06
    assert rate.max() < 0.6 and rate.min() < 0.15  # no item is (nearly) always in, as a biased draw would make it
    # a larger request grows the slice at random, keeping what it had
    Item.objects.filter(project=project).update(calibration=False)
    before = set(calibration.ensure_slice(project, 0.1, minimum=0, seed=1))
    after = set(calibration.ensure_slice(project, 0.3, minimum=0, seed=2))
    assert before < after and len(after) == 36
    assert len(calibration.ensure_slice(project, 0.0, minimum=50, seed=3)) == 50  # the minimum count


def test_routers_learn_only_on_the_calibration_slice_and_gold(project):
    items, _, user = structured_project(project, n=80, calibration_fraction=0.5)
    first = routing.route_project(project, budget=0.7, strategy="judge_error", **FAST)
    # people label items a router chose, adversarially: nothing a router learns may change
    human = factories.human(user)
    chosen = list(Item.objects.filter(project=project, route_reason__why="budget"))
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=human, kind="pairwise", preference=3) for it in chosen]
    )
    Item.objects.filter(pk__in=[it.pk for it in chosen]).update(human_label_count=1)
    second = routing.route_project(project, budget=0.7, strategy="judge_error", **FAST)
    assert (
        second.model["routers"] == first.model["routers"]
        and second.counts["training_items"] == first.counts["training_items"] == 40
    )
    assert second.counts["spent"] == len(chosen) > 0


def test_imported_labels_are_human_only_when_declared(project):
    items, _, _ = structured_project(project, n=40, calibration_fraction=0.5)
    item = items[0][0]
    source = Annotator.objects.create(
        kind=AnnotatorKind.SOURCE, name="ultrafeedback", project=project
    )  # default: a model's labels
    Annotation.objects.create(item=item, annotator=source, kind="pairwise", preference=3)
    Annotation.objects.filter(item=item, annotator__kind=AnnotatorKind.HUMAN).delete()
    assert routing.label_directions(project, [item.pk]).get(item.pk, routing.ItemDirections()).human == []
    source.label_kind = LabelKind.HUMAN
    source.save()
    assert routing.label_directions(project, [item.pk])[item.pk].human == [1]


def test_imported_labels_count_as_spent_only_when_declared_human(project):
    """Items an import labelled count as already paid for (spent) only when the import's labels
    were declared human; a model's scores (the default) leave the item to the budget."""
    items, _, _ = structured_project(project, n=40, calibration_fraction=0.5)
    outside = [it for it, _ in items if not Item.objects.get(pk=it.pk).calibration][:5]
    source = Annotator.objects.create(kind=AnnotatorKind.SOURCE, name="import", project=project)
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=source, kind="pairwise", preference=2) for it in outside]
    )
    judged = routing.route_project(project, budget=0.5, strategy="random", **FAST)
    assert judged.counts["spent"] == 0 and routing.spend(project).labelled == 20  # the slice only
    source.label_kind = LabelKind.HUMAN  # as if imported declared human, which also counts them
    source.save()
    Item.objects.filter(pk__in=[it.pk for it in outside]).update(human_label_count=1)
    declared = routing.route_project(project, budget=0.5, strategy="random", **FAST)
    assert declared.counts["spent"] == 5 and routing.spend(project).labelled == 25
    assert set(Item.objects.filter(pk__in=[it.pk for it in outside]).values_list("routing", flat=True)) == {
        Routing.HUMAN
    }
    assert not human_queue(project) & {it.pk for it in outside}  # paid for: the queue does not ask again


def test_an_imported_models_labels_are_judge_labels(project):
    """UltraFeedback's or AlpacaEval's GPT-4 labels, imported (a source whose labels are a model's),
    are what judges give: items carrying only those are judged, not sent to people as unjudged."""
    items, judge, _ = structured_project(project, n=40, calibration_fraction=0.5)
    outside = [it for it, _ in items if not Item.objects.get(pk=it.pk).calibration][:6]
    Annotation.objects.filter(item__in=outside, annotator__judge=judge).delete()
    gpt4 = Annotator.objects.create(kind=AnnotatorKind.SOURCE, name="ultrafeedback", project=project)
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=gpt4, kind="pairwise", preference=-1) for it in outside[:4]]
    )
    assert routing.label_directions(project, [outside[0].pk])[outside[0].pk].judge == [-1]
    run = routing.route_project(project, budget=0.5, strategy="random", **FAST)
    assert run.counts["unjudged"] == 2  # the two with no label from any model
    reasons = dict(Item.objects.filter(pk__in=[it.pk for it in outside]).values_list("pk", "route_reason__why"))
    assert all(reasons[it.pk].startswith("unjudged") for it in outside[4:])  # the slice took the budget
    assert all(reasons[it.pk] in ("budget", "judge") for it in outside[:4])


def test_budget_fraction_gold_both_and_every_strategy(project):
    items, _, _ = structured_project(project, n=40, calibration_fraction=0.5)
    gold = factories.item(project, is_gold=True, gold_answer={"preference": 2})
    ItemFeatures.objects.create(item=gold, values={"judge_count": 1}, tags={})
    for strategy in routing_sim.STRATEGIES:
        run = routing.route_project(
            project,
            budget=0.75,
            strategy=strategy,
            human_route=Routing.BOTH,
            curve_seeds=1,
            n_mixes=20,
            calibration_fraction=0.0,
            calibration_minimum=0,
        )
        assert run.counts["human"] == 30 - 20 and run.counts["gold"] == 1 and run.counts["calibration"] == 20
        assert Item.objects.filter(project=project, routing=Routing.BOTH).count() == 31
        assert not Item.objects.filter(project=project, routing=Routing.UNROUTED).exists()
        assert run.model["strategy_used"] == strategy
    assert RoutingRun.objects.filter(project=project).count() == len(routing_sim.STRATEGIES)
    ppm_run = RoutingRun.objects.filter(project=project, strategy="ppm").get()
    assert ppm_run.model["routers"]["ppm"]["kind"] == "ppm_linear" and ppm_run.model["routers"]["ppm"]["mixes"] >= 3
    with pytest.raises(ValueError):
        routing.route_project(project, budget=0.5, strategy="oracle")


def test_cold_start_ranks_by_judge_uncertainty(project):
    from annotate.judging.service import judge_annotator
    from annotate.models import LMJudge

    sure, unsure = factories.item(project), factories.item(project)
    judge = judge_annotator(LMJudge.objects.create(name="j", backend="openai", model="m"))
    for item, confidence in ((sure, 0.95), (unsure, 0.2)):
        ItemFeatures.objects.create(item=item, values={}, tags={})
        Annotation.objects.create(item=item, annotator=judge, kind="pairwise", preference=1, confidence=confidence)
    run = routing.route_project(project, count=1, **FAST)
    assert run.model["strategy_used"] == "uncertainty" and run.model["routers"]["ppm"] is None
    assert run.model["measured_curves"]["measured"] is False
    assert (
        Item.objects.get(pk=unsure.pk).routing == Routing.HUMAN
        and Item.objects.get(pk=sure.pk).routing == Routing.JUDGE
    )


def test_routing_refuses_items_without_features(project):
    factories.item(project)
    with pytest.raises(ValueError, match="no features"):
        routing.route_project(project, budget=0.5)


def test_routing_task_computes_missing_features_first(project):
    from workers.tasks.routing import start_routing

    items = [factories.item(project, text_a=f"Answer {i}", text_b=f"Other answer {i}") for i in range(4)]
    run = start_routing(project, budget=0.5, calibration_fraction=0.25, calibration_minimum=0)
    assert run.state == RunState.SUCCEEDED, run.error
    assert ItemFeatures.objects.filter(item__in=items).count() == 4
    assert run.metrics["human"] == 1 and run.metrics["calibration"] == 1
    assert (
        Item.objects.filter(routing=Routing.HUMAN).count() == 1
        and Item.objects.filter(routing=Routing.BOTH).count() == 1
    )
    assert routing.spend(project).routed_to_humans == 2


def test_routing_recomputes_features_an_other_encoder_made(project, settings):
    from curation.features import compute_features, feature_encoder
    from workers.tasks.routing import start_routing

    items = [factories.item(project, text_a=f"Answer {i}", text_b=f"Other answer {i}") for i in range(4)]
    settings.FEATURE_EMBEDDINGS = "contextual"
    compute_features(project, item_ids=[items[0].pk])  # one row from an earlier setting
    assert ItemFeatures.objects.get(item=items[0]).encoder == "all-MiniLM-L6-v2@128"
    settings.FEATURE_EMBEDDINGS = "static"
    run = start_routing(project, budget=0.5, calibration_fraction=0.25, calibration_minimum=0)
    assert run.state == RunState.SUCCEEDED, run.error
    assert "computing features for 4 items" in run.log_tail
    encoders = set(ItemFeatures.objects.filter(item__in=items).values_list("encoder", flat=True))
    assert encoders == {feature_encoder().name} == {"all-MiniLM-L6-v2-static@128"}


def test_human_accuracy_from_agreement():
    assert routing_sim.human_accuracy_from_agreement(0.82) == pytest.approx(0.9)
    assert routing_sim.human_accuracy_from_agreement(0.4) is None
    assert routing_sim.judge_wrong_from_disagreement(0.18, 0.9) == pytest.approx(0.1)


def test_reroute_when_enough_new_human_labels_arrive(project):
    from django_celery_beat.models import PeriodicTask

    from workers.tasks.routing import reroute_stale_projects

    assert PeriodicTask.objects.filter(task="workers.tasks.routing.reroute_stale_projects").exists()
    items, _, user = structured_project(project, n=60, calibration_fraction=0.5)
    first = routing.route_project(project, budget=0.7, strategy="judge_error", **FAST)
    assert reroute_stale_projects(min_new_labels=5) == []  # nothing new yet
    human = factories.human(user)
    fresh = [it for it, _ in items if not Item.objects.get(pk=it.pk).calibration][:10]
    for item in fresh:
        Annotation.objects.create(item=item, annotator=human, kind="pairwise", preference=2)
    Item.objects.filter(pk__in=[it.pk for it in fresh]).update(human_label_count=1)
    assert reroute_stale_projects(min_new_labels=5) == [project.pk]
    latest = RoutingRun.objects.filter(project=project).first()
    assert latest.pk != first.pk and latest.budget == first.budget and latest.strategy == "judge_error"
    assert latest.counts["training_items"] == 30  # new labels outside the slice teach no router


def test_routing_an_empty_project_records_an_empty_run(project):
    run = routing.route_project(project, budget=0.3)
    assert run.counts["items"] == 0 and run.budget == 0 and run.curve == []


def test_humans_get_exactly_the_items_routed_to_them(project):
    from annotate import queue

    items, _, _ = structured_project(project, n=50, calibration_fraction=0.4)
    annotator = queue.human_annotator(factories.user("reader", project=project))

    def drain():
        seen = []
        while (a := queue.next_assignment(project, annotator)) is not None:
            seen.append(a.item_id)
            queue.skip(a, "just looking")
        return set(seen)

    open_items = {it.pk for it, _ in items if not Item.objects.get(pk=it.pk).calibration}
    assert drain() == open_items  # unrouted: every open item is human work
    run = routing.route_project(project, budget=0.5, strategy="random", **FAST)
    annotator = queue.human_annotator(factories.user("reader2", project=project))
    routed = set(
        Item.objects.filter(
            project=project, routing__in=[Routing.HUMAN, Routing.BOTH], human_label_count=0
        ).values_list("pk", flat=True)
    )
    assert len(routed) == run.counts["human"] == 5
    assert drain() == routed


def test_items_no_judge_could_label_go_to_humans_first(project):
    """A judge whose replies never parse leaves items with no label at all: people label those first,
    and what the budget cannot cover is marked as such, never passed off as judged."""
    from annotate.judging.service import judge_annotator

    items, judge, _ = structured_project(project, n=60, calibration_fraction=0.5)
    blank = [factories.item(project) for _ in range(4)]
    for item in blank:
        ItemFeatures.objects.create(item=item, values={}, tags={})
    for item in blank[:2]:  # judged, but every reply unparsed; the rest never judged
        Annotation.objects.create(item=item, annotator=judge_annotator(judge), kind="pairwise", status="unparsed")
    run = routing.route_project(project, count=30 + 3, strategy="judge_error", **FAST)
    assert run.counts["unjudged"] == 4
    routed = [Item.objects.get(pk=item.pk) for item in blank]
    assert sum(item.routing == Routing.HUMAN for item in routed) == 3
    assert sorted(item.route_reason["why"] for item in routed) == ["unjudged"] * 3 + ["unjudged_over_budget"]
    assert all(item.route_score == 1.0 for item in routed)


def test_routing_reads_judge_labels_that_arrived_after_the_features(project):
    """Features were computed before any judge ran (their judge signals are empty); routing reads
    today's judge labels, so the judged items are not sent to people as unjudged."""
    items, _, _ = structured_project(project, n=60, calibration_fraction=0.5)
    for f in ItemFeatures.objects.filter(item__project=project):
        f.values = {k: v for k, v in f.values.items() if not k.startswith(("judge_", "jury_", "swap_"))}
        f.save()
    run = routing.route_project(project, budget=0.2, strategy="uncertainty", **FAST)
    assert run.counts["unjudged"] == 0  # stale signals made all 30 items outside the slice "unjudged"
    assert not Item.objects.filter(project=project, route_reason__why="unjudged").exists()


@pytest.mark.postgres
def test_sql_twins_read_and_write_what_the_portable_paths_do(project):
    """Routing's PostgreSQL statements (features unpacked server-side, routes written in one
    statement per batch) against the paths every database runs."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the SQL twins run on PostgreSQL")
    items, _, _ = structured_project(project, n=30)
    first = Item.objects.filter(project=project).order_by("pk").first()
    ItemFeatures.objects.filter(item=first).update(values={"len_a": "not a number"}, tags={})  # odd rows too
    got_sql, num_sql, cat_sql = routing.features_sql(project)
    got_orm, num_orm, cat_orm = routing.features_orm(project)
    order_sql, order_orm = np.argsort(got_sql), np.argsort(got_orm)
    assert got_sql[order_sql].tolist() == got_orm[order_orm].tolist() and len(got_sql) == 30
    for k in num_orm:
        a, b = num_sql[k][order_sql], num_orm[k][order_orm]
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)]), k
    assert all(cat_sql[d][order_sql].tolist() == cat_orm[d][order_orm].tolist() for d in cat_orm)

    ids = [it.pk for it, _ in items]
    reasons = [f'{{"why":"budget","rank":{n},"quote":"\\"x\\""}}' for n in range(len(ids))]
    routes = [Routing.HUMAN if n % 3 else Routing.JUDGE for n in range(len(ids))]
    scores = [n / 7 for n in range(len(ids))]

    def stored():
        return list(
            Item.objects.filter(pk__in=ids).order_by("pk").values_list("routing", "route_score", "route_reason")
        )

    routing.write_routes(ids, routes, scores, reasons, one_statement=True)
    one = stored()
    Item.objects.filter(pk__in=ids).update(routing=Routing.UNROUTED, route_score=None, route_reason={})
    routing.write_routes(ids, routes, scores, reasons, one_statement=False)
    assert stored() == one and one[1] == (Routing.HUMAN, 1 / 7, {"why": "budget", "rank": 1, "quote": '"x"'})


def test_slice_stats_count_imported_model_labels_as_judges_and_leave_gold_out_of_its_size(project):
    items, judge, _ = structured_project(project, n=40, calibration_fraction=0.5)
    in_slice = [it for it, _ in items if Item.objects.get(pk=it.pk).calibration]
    Annotation.objects.filter(item__in=in_slice, annotator__judge=judge).delete()  # no Tandem judge there
    gpt4 = Annotator.objects.create(kind=AnnotatorKind.SOURCE, name="alpaca_eval_gpt4", project=project)
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=gpt4, kind="pairwise", preference=1) for it in in_slice]
    )
    Item.objects.filter(pk__in=[it.pk for it in in_slice[:5]]).update(is_gold=True, gold_answer={"preference": 1})
    stats = calibration.stats(project)
    assert stats.size == 15 and stats.fraction == round(15 / 35, 4)  # the five now gold are not slice items
    assert stats.judge_accuracy.n > 0 and stats.labelled_by_both == 15  # GPT-4's imported verdicts are judge labels
