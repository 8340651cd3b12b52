"""Routing pages: managers only; add a judge, run judging/features/routing from the page, the curve
and spend render, and model text on the item page is escaped."""

import pytest
from django.urls import reverse

from annotate.judging.service import judge_annotator
from annotate.models import Annotation, Item, LMJudge, Routing
from tests import factories
from tests.judging_helpers import ScriptedServer, allow_local_server
from tests.routing_helpers import structured_project
from workers.models import TaskRun

pytestmark = pytest.mark.django_db
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def login(client, user):
    client.force_login(user)
    return client


def test_only_managers_see_routing(client, project, annotator_user, manager_user):
    url = reverse("curation:routing", args=[project.pk])
    assert login(client, annotator_user).get(url).status_code == 403
    other = factories.project()
    assert login(client, manager_user).get(reverse("curation:routing", args=[other.pk])).status_code == 404
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302


@allow_local_server
def test_admin_adds_server_judge_manager_runs_judging_and_routes(client, project, manager_user, admin_user):
    [factories.item(project, text_a=f"Answer {i}", text_b=f"Other {i}") for i in range(6)]
    login(client, admin_user)
    bad = client.post(
        reverse("curation:add_judge", args=[project.pk]),
        {
            "name": "j",
            "backend": "openai",
            "model": "m",
            "base_url": "",
            "parameters": "{}",
            "prompt_templates": '{"pairwise": "$nope"}',
        },
    )
    assert bad.status_code == 400 and b"base URL" in bad.content and b"unknown placeholders" in bad.content
    with ScriptedServer(lambda body: (200, '{"verdict": 0, "rationale": "same"}')) as server:
        r = client.post(
            reverse("curation:add_judge", args=[project.pk]),
            {
                "name": "local-vllm",
                "backend": "openai",
                "model": "m",
                "base_url": server.base_url,
                "parameters": '{"retry_backoff": 0.01}',
                "prompt_templates": "{}",
            },
        )
        assert r.status_code == 302
        judge = LMJudge.objects.get(name="local-vllm")
        assert list(judge.projects.all()) == [project]
        login(client, manager_user)
        client.post(reverse("curation:run_judging", args=[project.pk]))
    assert Annotation.objects.filter(annotator__judge=judge).count() == 6
    client.post(reverse("curation:run_features", args=[project.pk]))
    r = client.post(
        reverse("curation:run_routing", args=[project.pk]),
        {"budget": 50, "strategy": "ppm", "human_route": "human", "calibration_percent": 10, "calibration_minimum": 2},
        follow=True,
    )
    assert r.status_code == 200
    route_run = TaskRun.objects.get(project=project, kind="route")
    # no broker: the run finished inside the request, and the message says so rather than "started"
    assert f"Routing run {route_run.pk} succeeded." in [str(m) for m in r.context["messages"]]
    assert Item.objects.filter(project=project, routing=Routing.BOTH, calibration=True).count() == 2  # the slice
    assert Item.objects.filter(project=project, routing=Routing.HUMAN).count() == 1  # 3 = 50 %, two of them the slice
    assert set(TaskRun.objects.filter(project=project).values_list("kind", flat=True)) == {"judge", "features", "route"}
    page = client.get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "local-vllm" in page and "Calibration slice" in page and "2 items" in page
    assert "measured curves need at least" in page  # two calibration items are too few to measure anything
    runs = client.get(reverse("curation:routing_runs", args=[project.pk]), HTTP_HX_REQUEST="true")
    assert runs.status_code == 200 and "hx-trigger" not in runs.content.decode()  # nothing left to poll
    assert (
        client.post(
            reverse("curation:run_routing", args=[project.pk]),
            {
                "budget": 150,
                "strategy": "ppm",
                "human_route": "human",
                "calibration_percent": 10,
                "calibration_minimum": 2,
            },
        ).status_code
        == 400
    )
    client.post(
        reverse("curation:run_routing", args=[project.pk]),
        {
            "budget": 50,
            "count": 3,
            "strategy": "random",
            "human_route": "both",
            "calibration_percent": 10,
            "calibration_minimum": 2,
        },
    )
    assert Item.objects.filter(project=project, routing=Routing.BOTH).count() == 3
    count_only = {"budget": "", "count": 4, "strategy": "random", "human_route": "human"}
    count_only |= {"calibration_percent": 10, "calibration_minimum": 2}
    assert client.post(reverse("curation:run_routing", args=[project.pk]), count_only).status_code == 302
    assert Item.objects.filter(project=project, routing__in=[Routing.HUMAN, Routing.BOTH]).count() == 4
    neither = client.post(reverse("curation:run_routing", args=[project.pk]), {**count_only, "count": ""})
    assert neither.status_code == 400 and "or a number of items" in neither.content.decode()


def test_item_page_shows_labels_escaped_and_route_reason(client, project, manager_user):
    items, judge, _ = structured_project(project, n=40, calibration_fraction=0.6)
    from curation.routing import route_project

    route_project(
        project,
        budget=0.8,
        strategy="judge_error",
        calibration_fraction=0.0,
        calibration_minimum=0,
        curve_seeds=2,
        n_mixes=20,
    )
    item = items[-1][0]
    item.response_a.text = XSS
    item.response_a.save()
    Annotation.objects.filter(item=item, annotator=judge_annotator(judge)).update(
        rationale=XSS,
        details={"raw": {"ab": {"reply": XSS}}, "swap_consistent": False},
        aspect_ratings={XSS: {"a": 4, "b": 2}},
    )
    page = login(client, manager_user).get(reverse("curation:item", args=[project.pk, item.pk])).content.decode()
    assert XSS not in page and "&lt;script&gt;" in page
    assert "position swap inconsistent" in page and judge.name in page and "A 4 · B 2" in page
    assert "Why it was routed here" in page and (
        "domain=" in page or "Outside the human budget" in page or "calibration slice" in page
    )
    assert (
        login(client, factories.user("ann2", project=project))
        .get(reverse("curation:item", args=[project.pk, item.pk]))
        .status_code
        == 403
    )


def test_runs_fragment_polls_while_a_run_is_active(client, project, manager_user):
    from workers import runs

    run = runs.create_run("judge", project=project, total=10)
    runs.start_run(run)
    runs.set_progress(run, 4)
    login(client, manager_user)
    html = client.get(reverse("curation:routing_runs", args=[project.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in html and "4 / 10" in html
    runs.finish_run(run)
    done = client.get(reverse("curation:routing_runs", args=[project.pk]) + "?was_active=1", HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in done.content.decode() and done["HX-Refresh"] == "true"


def test_routing_page_shows_measured_curves_and_the_calibration_slice(client, project, manager_user):
    items, judge, _ = structured_project(project, n=90, calibration_fraction=0.6)
    from curation.routing import route_project

    run = route_project(
        project, budget=0.7, strategy="ppm", calibration_fraction=0.0, calibration_minimum=0, curve_seeds=2, n_mixes=20
    )
    page = login(client, manager_user).get(reverse("curation:routing", args=[project.pk])).content.decode()
    curves = run.model["measured_curves"]["mean"]
    assert all(any(v is not None for v in c) for c in curves.values())  # every strategy measured
    assert "<svg" in page and page.count("<polyline") == len(curves) == 7 and "all-human" in page
    assert (
        "Measured budget curves" in page and "PPM gain (linear)" in page and "judge-error (learning to defer)" in page
    )
    assert "people (all-human)" in page and "judges (all-judge)" in page  # their rows in the table, ± sd
    assert "by chance alone" in page and "grow the calibration slice" in page  # a handful held out per split
    assert "budget 70%" in page  # the legend in the chart's unit
    assert "54 items" in page and "95% interval" in page  # the slice: size and accuracies with intervals
    assert "(predicted)" in page  # the judge-error model's predictions appear only labelled as such


def test_item_page_says_when_people_labelled_it_after_routing(client, project, manager_user):
    from curation.models import ItemFeatures
    from curation.routing import route_project

    items, _, user = structured_project(project, n=40, calibration_fraction=0.5)
    route_project(project, budget=0.7, strategy="ppm", curve_seeds=1, n_mixes=20, calibration_minimum=0)
    routed = Item.objects.filter(project=project, route_reason__why__in=["judge", "budget"]).order_by("pk")
    shown = routed.last()
    shown.route_reason = {**shown.route_reason, "top": [["domain=math", 0.021, 1]]}
    shown.save()
    page = login(client, manager_user).get(reverse("curation:item", args=[project.pk, shown.pk])).content.decode()
    assert "PPM coefficient" in page and "log-odds" not in page  # the column says what the numbers are
    item = routed.filter(route_reason__why="judge").first()
    ItemFeatures.objects.filter(item=item).update(values={"len_a": 12})  # judge signals not stored
    page = login(client, manager_user).get(reverse("curation:item", args=[project.pk, item.pk])).content.decode()
    assert "People have labelled it since" not in page
    assert "<td>judge_count</td><td>1</td>" in page  # read from the judge's label, not the stored copy
    assert "<td>swap_inconsistency</td><td>—</td>" in page
    Annotation.objects.create(item=item, annotator=factories.human(user), kind="pairwise", preference=1)
    page = client.get(reverse("curation:item", args=[project.pk, item.pk])).content.decode()
    assert "People have labelled it since this routing run" in page


def test_routing_page_says_what_it_did_with_a_count_past_the_items_and_keeps_a_zero_budget(
    client, project, manager_user
):
    from curation.routing import route_project

    structured_project(project, n=40, calibration_fraction=0.5)
    run = route_project(project, count=1000, strategy="random", curve_seeds=1, n_mixes=20, calibration_minimum=0)
    project.human_budget = 0.0  # as a manager may set it on the project's settings
    project.save()
    assert run.counts["human"] + run.counts["calibration"] == 40
    assert any("asked for 1000 items" in n for n in run.model["notes"])
    page = login(client, manager_user).get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "asked for 1000 items; the project has 40 non-gold items" in page
    assert 'name="budget" min="0" max="100" value="0"' in page  # 0 % stays 0 %, not the default 30
    assert "40 items go to people against a budget of 0: the calibration slice (20)" in page
    small = {"budget": 5, "strategy": "random", "human_route": "human", "calibration_percent": 10}
    r = client.post(
        reverse("curation:run_routing", args=[project.pk]), {**small, "calibration_minimum": 0}, follow=True
    )
    assert "The calibration slice (20 items) is larger than the human budget (2 items)" in r.content.decode()
    from workers import runs

    done = runs.create_run("route", project=project, params={})
    runs.finish_run(done, state="succeeded")
    listed = client.get(reverse("curation:routing_runs", args=[project.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "0 / 0" not in listed and "succeeded" in listed  # a step with no count says how it ended


def test_items_without_a_judge_label_are_placed_not_passed_off_as_predictions(client, project, manager_user):
    from curation.models import ItemFeatures
    from curation.routing import route_project

    structured_project(project, n=40, calibration_fraction=0.5)
    thumbs = [factories.item(project, kind="binary", text_a=f"only {i}") for i in range(3)]  # no judge labels these
    for item in thumbs:
        ItemFeatures.objects.create(item=item, values={}, tags={"domain": "general"})
    route_project(project, budget=0.8, strategy="ppm", curve_seeds=1, n_mixes=20, calibration_minimum=0)
    page = login(client, manager_user).get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "3 items had no judge label at the last run" in page
    listed = page.split("Highest routing score", 1)[1]
    assert not any(f">#{it.pk}</a>" in listed for it in thumbs)  # their placeholder score is not a ranking
    item_page = client.get(reverse("curation:item", args=[project.pk, thumbs[0].pk])).content.decode()
    assert "not scored: items without a judge label are placed first" in item_page
    assert "routing score <strong>" not in item_page and "PPM coefficient" not in item_page


def test_a_strategy_without_a_curve_says_why(client, project, manager_user):
    from curation.routing import route_project

    structured_project(project, n=60, calibration_fraction=0.6)  # 36 in the slice: ~14 to fit routers per split
    run = route_project(project, budget=0.7, strategy="ppm", curve_seeds=2, n_mixes=20, calibration_minimum=0)
    measured = run.model["measured_curves"]
    assert measured["measured"] and any("PPM:" in n and "needs 20" in n for n in measured["notes"])
    page = login(client, manager_user).get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "No measured curve for PPM gain (linear)" in page and "router-fit part" in page
    assert "random" not in page.split("No measured curve for", 1)[1].split(":", 1)[0]  # random was measured


def test_item_page_names_imported_peoples_labels_and_ties(client, project, manager_user):
    from annotate.models import Annotator, AnnotatorKind, LabelKind

    item = factories.item(project)
    crowd = Annotator.objects.create(
        kind=AnnotatorKind.SOURCE, name="multipref · normal w1", project=project, label_kind=LabelKind.HUMAN
    )
    Annotation.objects.create(item=item, annotator=crowd, kind="pairwise", preference=0)
    page = login(client, manager_user).get(reverse("curation:item", args=[project.pk, item.pk])).content.decode()
    assert "Imported (people)</span> multipref · normal w1" in page
    assert "+0" not in page and "Tie" in page
