"""The manager's pages in Chromium with axe-core: the curation dashboard (figures loaded by the
poll), the record browser, routing, runs and the project settings have no critical or serious
accessibility violations."""

import pytest
from django.urls import reverse

from annotate.models import Annotation, Item, Project
from curation.models import ItemNoise, NoiseRun
from tests import curation_data as cd
from tests import factories
from tests.browser import axe_violations, browser_page, csp_violations, login, shot  # noqa: F401  (browser_page is a fixture)
from workers import runs
from workers.models import RunKind, RunState, TaskRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def managed(transactional_db):
    project = factories.project("Curated <assistant>")
    boss = factories.user("boss", project=project, role="manager")
    boss.is_staff = True  # may create projects
    boss.save()
    people = cd.labelled_project(project, pairs=12, binaries=4, edits=2, annotators=3)
    cd.label(project.items.filter(kind="pairwise").first(), cd.judge(project, "judge-1"), preference=-1)
    run = NoiseRun.objects.create(project=project, method="test", epsilon=0.12, epsilon_low=0.08, epsilon_high=0.16)
    for i, item in enumerate(project.items.filter(kind="pairwise").order_by("id")):
        ItemNoise.objects.create(item=item, run=run, p_wrong=(i * 0.07) % 1, label={"direction": 1})
    Annotation.objects.filter(annotator=people[0]).update(time_spent_ms=6500)
    # Every route and run state on the pages, so each badge colour is checked.
    for route, item in zip(["human", "judge", "both", "unrouted"], project.items.order_by("id")):
        Item.objects.filter(pk=item.pk).update(routing=route, route_score=0.4, route_reason={"margin": 0.2})
    for kind, state in [
        (RunKind.JUDGE, RunState.SUCCEEDED),
        (RunKind.ROUTE, RunState.FAILED),
        (RunKind.NOISE, RunState.RUNNING),
        (RunKind.FEATURES, RunState.CANCELLED),
        (RunKind.RATIONALE, RunState.QUEUED),
    ]:
        run = runs.create_run(kind, project=project)
        for i in range(60):  # a log longer than its box: the box must be reachable by keyboard
            runs.log(run, f"step {i}: <b>not bold</b>")
        if state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED):
            runs.finish_run(run, metrics={"judged": 3}, state=state, error="boom" if state == RunState.FAILED else "")
        elif state == RunState.RUNNING:
            TaskRun.objects.filter(pk=run.pk).update(state=state)
    return project


def assert_no_axe_violations(page, where):
    violations = axe_violations(page)
    assert not violations, f"{where}: " + "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in violations
    )


def test_manager_pages_pass_axe(live_server, managed, browser_page):
    page, base, pk = browser_page, live_server.url, managed.pk
    login(page, base, "boss")

    page.goto(base + reverse("curation:dashboard", args=[pk]))
    assert "computing…" in page.inner_text("#figures-age") or "computed" in page.inner_text("#figures-age")
    page.wait_for_selector("#agreement")  # the poll brought the figures in
    page.wait_for_selector("#activity svg")
    page.wait_for_selector("#preview b")
    assert "Figures computed" in page.inner_text("#figures-age")
    shot(page, "manager-dashboard")
    assert_no_axe_violations(page, "curation dashboard")

    found = {}
    for name, url in [
        ("records", reverse("curation:records", args=[pk])),
        ("routing", reverse("curation:routing", args=[pk])),
        ("runs", reverse("workers:project_runs", args=[pk])),
        ("settings", reverse("annotate:project_settings", args=[pk])),
        ("record", reverse("curation:item", args=[pk, managed.items.order_by("id").first().pk])),
        (
            "run",
            reverse(
                "workers:run", args=[managed.pk, TaskRun.objects.filter(project=managed, kind=RunKind.JUDGE).get().pk]
            ),
        ),
        (
            "failed run",
            reverse(
                "workers:run", args=[managed.pk, TaskRun.objects.filter(project=managed, kind=RunKind.ROUTE).get().pk]
            ),
        ),
    ]:
        response = page.goto(f"{base}{url}")
        assert response.status == 200, url
        shot(page, f"manager-{name}")
        found[name] = axe_violations(page)
    page.goto(base + reverse("annotate:project_settings", args=[pk]))
    page.click("#new-invite button")
    page.wait_for_selector("#invite-url")
    assert "/invite/" in page.input_value("#invite-url")
    found["new invite"] = axe_violations(page)
    page.goto(base + reverse("annotate:project_new"))
    page.fill("#id_name", "Made in the browser")
    page.fill("#id_aspects", "clarity\ncorrectness")
    page.click("button.primary")
    page.wait_for_selector("#members")
    found["new project settings"] = axe_violations(page)
    assert Project.objects.get(name="Made in the browser").aspects == ["clarity", "correctness"]
    assert not any(found.values()), "\n".join(
        f"{where}: {v['impact']} {v['id']}: {v['help']} {v['nodes']}" for where, vs in found.items() for v in vs
    )
    assert not csp_violations(page)  # charts, settings and the polled figures need no inline script or style element
