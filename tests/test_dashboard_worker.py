"""The dashboard's figures computed by a real `celery worker` subprocess: while the refresh is
queued the polled fragment answers at once with "computing…" (and keeps polling); the worker's
result, written to the shared cache, is what the next poll shows."""

import time

import pytest
from django.conf import settings
from django.urls import reverse

from curation import dashboard_figures
from tests import celery_worker as cw
from tests import curation_data as cd
from tests import factories

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres, pytest.mark.slow]


def test_figures_come_from_the_worker_while_the_page_polls(transactional_db, tmp_path):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a worker subprocess needs a database it can share: PostgreSQL")
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("the worker and the web process share figures through Redis (REDIS_CACHE_URL)")
    from django.test import Client

    project = factories.project("Worker figures")
    manager = factories.user("mgr-w", project=project, role="manager")
    cd.labelled_project(project, pairs=6, binaries=2, edits=0, annotators=2)
    cw.flush_broker()
    worker = cw.Worker(tmp_path, "figures").wait_ready()
    try:
        client = Client()
        client.force_login(manager)
        url = reverse("curation:figures", args=[project.pk])
        # What request_refresh does with a broker: claim, then send (here through the test's producer,
        # since this process runs tasks eagerly).
        assert dashboard_figures.claim_refresh(project)
        fragment = client.get(url).content.decode()  # the refresh is claimed: nothing computed here
        assert "computing…" in fragment and 'hx-trigger="every 2s"' in fragment and "Krippendorff" not in fragment
        cw.producer().send_task("workers.tasks.dashboard.refresh_dashboard_figures", args=[project.pk], queue="cpu")
        deadline = time.time() + 120
        while not dashboard_figures.state(project).fresh:
            assert time.time() < deadline, worker.output()
            time.sleep(0.3)
        fragment = client.get(url).content.decode()
        assert "Krippendorff" in fragment and "Figures computed" in fragment and "hx-trigger" not in fragment
        assert dashboard_figures.claim_refresh(project)  # the worker freed the claim when it finished
    finally:
        worker.stop()
