"""Every page reachable from the navigation opens, for every role: a breadth-first walk in Chromium
from the home page over same-site links (the nav, project tabs, tables, run and item pages), with no
4xx or 5xx on any page a role is shown a link to. Links a role is given must work for that role."""

from collections import deque
from urllib.parse import urldefrag, urlparse

import pytest

from annotate.models import Item
from curation.models import ItemNoise, NoiseRun
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories
from tests.browser import browser_page, login  # noqa: F401  (browser_page is a fixture)
from workers import runs
from workers.models import RunKind, RunState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_PAGES = 70  # per role: enough to reach every kind of page, bounded in time
SKIP = ("/logout", "/admin/", "/static/", "/api/", "/accounts/logout")  # Django admin is Django's; API answers files


@pytest.fixture
def world(transactional_db):
    project = factories.project("Walked <project>", instructions="Be **careful**.")
    manager = factories.user("walk-manager", project=project, role="manager")
    annotator = factories.user("walk-annotator", project=project)
    factories.user("walk-admin", superuser=True)
    factories.human(annotator)
    cd.labelled_project(project, pairs=8, binaries=3, edits=2, annotators=2)
    cd.label(project.items.filter(kind="pairwise").first(), cd.judge(project, "walk-judge"), preference=1)
    noise = NoiseRun.objects.create(project=project, method="test", epsilon=0.1, epsilon_low=0.05, epsilon_high=0.2)
    for item in project.items.filter(kind="pairwise"):
        ItemNoise.objects.create(item=item, run=noise, p_wrong=0.2, label={"direction": 1})
    Item.objects.filter(pk=project.items.first().pk).update(is_gold=True, gold_answer={"preference": 2})
    freeze_snapshot(project, manager)
    for kind in RunKind:
        run = runs.create_run(kind, project=project)
        runs.finish_run(run, metrics={"items": 3}, state=RunState.SUCCEEDED)
    return {"admin": "walk-admin", "manager": "walk-manager", "annotator": "walk-annotator"}


def _walk(page, base):
    host = urlparse(base).netloc
    seen, queue, bad, visited = set(), deque(["/"]), [], 0
    while queue and visited < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(base + path)
        visited += 1
        status = response.status if response else 0
        if status >= 400:
            bad.append((path, status))
            continue
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url = urlparse(urldefrag(href)[0])
            target = url.path + (f"?{url.query}" if url.query else "")
            if (
                url.netloc == host
                and url.scheme.startswith("http")
                and not target.startswith(SKIP)
                and target not in seen
            ):
                queue.append(target)
    return bad, visited


@pytest.mark.parametrize("role", ["annotator", "manager", "admin"])
def test_every_linked_page_opens_for_every_role(live_server, browser_page, world, role):
    page = browser_page
    login(page, live_server.url, world[role])
    bad, visited = _walk(page, live_server.url)
    assert visited >= (3 if role == "annotator" else 10), f"{role}: the walk reached only {visited} pages"
    assert not bad, f"{role}: linked pages that do not open: {bad}"
