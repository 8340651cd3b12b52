"""The judge-bias audit runs in a worker, never inside a page request: the page shows the last
stored audit with its time and the recompute run's progress; the run (a run_task, so claimed,
heart-beating, cancellable, retried and swept like every other) stores the audit; a reload shows it."""

import pytest
from django.urls import reverse

from curation import bias_store
from curation.models import BiasAuditRun
from tests import curation_data as cd
from tests.test_bias import _label, _pairs
from workers import runs
from workers.models import RunKind, TaskRun
from workers.tasks.bias import compute_bias_audit, start_bias_audit

pytestmark = pytest.mark.django_db


def _page(client, project):
    return client.get(reverse("curation:bias", args=[project.pk]))


def _labelled(project):
    items = _pairs(project, 30)
    longer = cd.judge(project, "longer")
    _label(items, longer, lambda it: 2 if len(it.response_b.text) > len(it.response_a.text) else -2)
    return items


def test_the_page_computes_nothing_the_run_stores_the_audit_and_a_reload_shows_it(
    client, project, manager_user, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    items = _labelled(project)
    client.force_login(manager_user)
    with django_assert_max_num_queries(20):  # the audit alone reads every label and item
        page = _page(client, project).content.decode()
    assert "No audit computed yet" in page and "judge:longer" not in page and "Recompute the audit" in page
    assert not BiasAuditRun.objects.exists() and not TaskRun.objects.filter(kind=RunKind.BIAS_AUDIT).exists()

    with django_capture_on_commit_callbacks(execute=True):  # tasks run in-process, sent on commit
        client.post(reverse("curation:run_bias_audit", args=[project.pk]))
    run = TaskRun.objects.get(kind=RunKind.BIAS_AUDIT)
    assert run.state == "succeeded", run.error
    assert run.progress == run.total > 0 and run.task_name == compute_bias_audit.name
    stored = BiasAuditRun.objects.get()
    assert stored.task_run == run and run.metrics["bias_audit"] == stored.pk

    with django_assert_max_num_queries(20):
        page = _page(client, project).content.decode()
    assert "judge:longer" in page and 'id="audit-time"' in page and "audit-stale" not in page
    assert f'href="{reverse("workers:run", args=[project.pk, run.pk])}"' in page
    audit = bias_store.latest(project).audit  # the stored JSON reads back as the audit's dataclasses
    longer = next(r for r in audit.rows if r.name == "judge:longer")
    assert longer.length.value > 1 and longer.length.low > 0 and longer.length.excludes_zero

    # New labels: the page says the audit is out of date and still shows (and computes) nothing new.
    _label(items, cd.judge(project, "late"), lambda it: -1)
    page = _page(client, project).content.decode()
    assert "audit-stale" in page and "judge:late" not in page and BiasAuditRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("curation:run_bias_audit", args=[project.pk]))
    page = _page(client, project).content.decode()
    assert "judge:late" in page and "audit-stale" not in page and BiasAuditRun.objects.count() == 2


def test_status_fragment_polls_while_running_and_reloads_the_page_when_done(client, project, manager_user):
    client.force_login(manager_user)
    run = start_bias_audit(project)  # not sent: no commit in this test's transaction
    assert start_bias_audit(project) == run  # one audit at a time
    runs.claim_run(run.pk, worker="w1")
    runs.set_progress(run, 2, 5)
    url = reverse("curation:bias_status", args=[project.pk])
    frag = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in frag and "2 / 5 labellers" in frag and 'aria-valuenow="40"' in frag
    assert "Cancel run" in frag and "disabled" in frag  # no second recompute while one runs
    assert "Cancel run" in _page(client, project).content.decode()
    runs.finish_run(run)
    done = client.get(url + "?was_active=1")
    assert done["HX-Refresh"] == "true" and "every 2s" not in done.content.decode()
    assert "HX-Refresh" not in client.get(url)  # a page opened after the run finished does not reload


def test_a_cancelled_audit_stores_nothing_and_can_be_retried(client, project, manager_user):
    _labelled(project)
    run = start_bias_audit(project)
    TaskRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # asked while the worker starts it
    assert compute_bias_audit.apply(args=[run.pk]).get() == "cancelled"
    assert not BiasAuditRun.objects.exists()
    client.force_login(manager_user)
    page = _page(client, project).content.decode()
    assert "cancelled" in page and "Retry run" in page
    client.post(reverse("workers:retry_run", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.state == "succeeded" and run.attempts == 2, run.error
    # A retry replaces the run's own audit rather than adding one.
    bias_store.compute(project, task_run=run)
    assert BiasAuditRun.objects.filter(task_run=run).count() == 1
    assert "judge:longer" in _page(client, project).content.decode()


def test_an_audit_whose_worker_died_is_swept_back_and_completes(project):
    from datetime import timedelta

    from django.utils import timezone

    from workers.tasks.runs import sweep

    _labelled(project)
    run = start_bias_audit(project)
    runs.claim_run(run.pk, worker="gone")
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert sweep().requeued == [run.pk]  # re-sent by its task name (in-process here, so it runs now)
    run.refresh_from_db()
    assert run.state == "succeeded" and BiasAuditRun.objects.get().task_run == run
