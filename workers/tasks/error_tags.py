"""Celery tasks: the bias audit's LM error tags (a thin wrapper over curation.error_tags.tag_errors).
A local tagger runs on the `gpu` queue, an OpenAI-compatible server on `cpu`, as judging does."""

from annotate.errors import Invalid
from annotate.judging.backends import queue_for
from curation.error_tags import tag_errors, tagger_for
from workers import runs
from workers.models import RunKind
from workers.tasks.runs import enqueue, run_task


def _tag(run):
    # A TransientBackendError is Retryable: retried later; the tags already stored are kept.
    result = tag_errors(run.project, log=lambda line: runs.log(run, line))
    runs.log(
        run,
        f"{result.tagger}: {result.stored} responses tagged, {result.unparsed} answers neither yes nor no, "
        f"{result.failed} requests failed",
    )
    return {
        "tagger": result.tagger,
        "asked": result.asked,
        "stored": result.stored,
        "unparsed": result.unparsed,
        "failed": result.failed,
    }


@run_task(queue="gpu")
def tag_errors_locally(run):
    return _tag(run)


@run_task(queue="cpu")
def tag_errors_with_server(run):
    return _tag(run)


def start_error_tagging(project, user=None):
    """Queue error tagging with the project's tagger; Invalid when none is configured."""
    judge = tagger_for(project)
    if judge is None:
        raise Invalid(
            'no error tagger configured: give a generative judge of the project the parameter "error_tagger": true'
        )
    task = tag_errors_locally if queue_for(judge) == "gpu" else tag_errors_with_server
    run = runs.create_run(
        RunKind.ERROR_TAGS, project=project, user=user, task_name=task.name, params={"tagger": judge.name}
    )
    enqueue(task, run)
    run.refresh_from_db()
    return run
