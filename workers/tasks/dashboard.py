"""Celery task: recompute the curation dashboard's cached figures (curation.dashboard_figures).

Not a TaskRun: nobody waits on it by name; the dashboard polls the cache instead."""

import logging

from celery import shared_task

from annotate.models import Project
from curation import dashboard_figures
from workers.charts import edit_distance_context
from workers.tasks.runs import BROKER_ERRORS

logger = logging.getLogger(__name__)


@shared_task(name="workers.tasks.dashboard.refresh_dashboard_figures", queue="cpu", acks_late=True, ignore_result=True)
def refresh_dashboard_figures(project_id):
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        dashboard_figures.refresh(project, extra=edit_distance_context)


def request_refresh(project) -> bool:
    """Queue a refresh unless one is already claimed; False when none was queued by this call.
    Without a broker (eager mode) the refresh runs here, in the caller: call it from the
    dashboard's polled fragment, never from the page itself."""
    if not dashboard_figures.claim_refresh(project):
        return False
    try:
        refresh_dashboard_figures.apply_async(args=[project.pk])
    except BROKER_ERRORS as exc:
        logger.error("could not queue the dashboard refresh of project %s: %r", project.pk, exc)
        dashboard_figures.release(project)
        return False
    return True
