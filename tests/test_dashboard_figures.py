"""The curation dashboard's figures are cached and computed off the page's request; the Activity
charts (throughput, time per item, label distribution, weekly α) come from the real labels."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotate.models import Annotation
from curation import activity, dashboard_figures
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project):
    people = cd.labelled_project(project, pairs=9, binaries=4, edits=0, annotators=3)
    Annotation.objects.filter(annotator=people[0]).update(time_spent_ms=4000)
    Annotation.objects.filter(annotator=people[1]).update(time_spent_ms=12000)
    return people


def test_cold_dashboard_shows_a_placeholder_and_computes_nothing(project, labelled, manager_user, client, monkeypatch):
    client.force_login(manager_user)

    def refuse(*args, **kwargs):
        raise AssertionError("the page request computed a heavy figure")

    monkeypatch.setattr(dashboard_figures, "project_agreement", refuse)
    monkeypatch.setattr(dashboard_figures, "annotator_quality", refuse)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    assert "computing…" in html and "Krippendorff" not in html
    assert f'hx-get="{reverse("curation:figures", args=[project.pk])}" hx-trigger="load"' in html
    assert not any(
        "label_kind" in q["sql"] and "ORDER BY" in q["sql"] and "preference" in q["sql"]
        for q in queries.captured_queries
    )
    assert len(queries.captured_queries) < 30


def test_figures_appear_after_the_background_refresh_with_their_age(project, labelled, manager_user, client):
    client.force_login(manager_user)
    fragment = client.get(
        reverse("curation:figures", args=[project.pk])
    ).content.decode()  # no broker: the task runs here
    assert "Krippendorff" in fragment and "Figures computed" in fragment and "hx-trigger" not in fragment
    state = dashboard_figures.state(project)
    assert state.fresh and state.cached.figures["agreement"]["pairwise"]["items"] == 9
    html = client.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    assert (
        "Krippendorff" in html
        and "computing…" not in html
        and f'hx-get="{reverse("curation:preview", args=[project.pk])}' in html
    )  # the preview's, not ours
    assert reverse("curation:figures", args=[project.pk]) not in html

    # A new label makes the figures stale: the page still shows them, says so and polls for fresh ones.
    cd.label(factories.item(project), labelled[0], preference=3)
    html = client.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    assert "Krippendorff" in html and "labels changed since, updating…" in html
    assert f'hx-get="{reverse("curation:figures", args=[project.pk])}" hx-trigger="load"' in html
    fragment = client.get(reverse("curation:figures", args=[project.pk])).content.decode()
    assert (
        "updating" not in fragment
        and dashboard_figures.state(project).cached.figures["agreement"]["pairwise"]["items"] == 10
    )


def test_a_claimed_refresh_is_not_started_twice(project, labelled):
    from workers.tasks.dashboard import request_refresh

    assert dashboard_figures.claim_refresh(project)
    assert request_refresh(project) is False and dashboard_figures.state(project).cached is None
    dashboard_figures.release(project)
    assert request_refresh(project) is True and dashboard_figures.state(project).fresh


def test_activity_counts_throughput_time_distribution_and_weekly_alpha(project, labelled):
    people = labelled
    two_weeks_ago = timezone.now() - timedelta(days=14)
    Annotation.objects.filter(annotator=people[2]).update(created_at=two_weeks_ago)
    judge = cd.judge(project, "j1")
    for item in project.items.filter(kind="pairwise")[:2]:
        cd.label(item, judge, preference=-3)
    act = activity.project_activity(project)
    names = {p.name for p in people}
    assert set(act.per_day) == names
    assert sum(act.per_day[people[0].name].values()) == 9 + 4 and len(act.days) == 2
    assert act.seconds_per_item == {people[0].name: (4.0, 13), people[1].name: (12.0, 9)}  # untimed labels left out
    # labelled_project: preferences 2/-2 for even people, 3/-1 for odd ones (i % 3 == 0 gives the negative one)
    assert act.people.preferences == {-3: 0, -2: 6, -1: 3, 0: 0, 1: 0, 2: 12, 3: 6} and act.people.thumbs == {
        "up": 2,
        "down": 2,
    }
    assert act.judges.preferences[-3] == 2 and act.judges.pairwise_total == 2 and act.judges.thumbs == {}
    # People 0 and 1 labelled the same 9 pairs this week; person 2 alone two weeks ago (no overlap that week).
    assert [(w.units, w.alpha is None) for w in act.weekly_alpha] == [(0, True), (9, False)]
    assert act.weekly_alpha[1].alpha == pytest.approx(
        activity.krippendorff_alpha(
            {i: {0: 2 if i % 3 else -2, 1: 3 if i % 3 else -1} for i in range(9)}, "ordinal", list(range(-3, 4))
        )
    )
    charts = activity.activity_charts(act)
    assert 'aria-label="Labels per day, per annotator"' in charts["throughput_plot"] and "4.0 s" in charts["time_plot"]
    assert "A much better" in charts["judge_prefs_plot"] and charts["judge_thumbs_plot"] is None


def test_activity_escapes_annotator_names(project):
    evil = cd.person(project, "<img src=x onerror=alert(1)>")
    cd.label(factories.item(project), evil, preference=1, time_spent_ms=2000)
    charts = activity.activity_charts(activity.project_activity(project))
    for key in ("throughput_plot", "time_plot"):
        assert "<img" not in charts[key] and "&lt;img src=x" in charts[key]


def test_figures_are_for_managers_only(project, labelled, annotator_user, client):
    client.force_login(annotator_user)
    assert client.get(reverse("curation:figures", args=[project.pk])).status_code == 403
    client.force_login(factories.user("stranger"))
    assert client.get(reverse("curation:figures", args=[project.pk])).status_code == 404
    assert dashboard_figures.state(project).cached is None
