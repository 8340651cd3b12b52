"""Celery tasks: LM judging, thin wrappers over annotate.judging.service on the shared run task
(workers/tasks/runs.py: claim, heartbeat, transient retries, cancel). Local models run on the `gpu`
queue, OpenAI-compatible servers on `cpu` (they only wait on the network)."""

from annotate.judging import reward_training, service
from annotate.judging.backends import queue_for
from annotate.models import LMJudge, Project
from workers import runs
from workers.models import RunKind
from workers.tasks.runs import enqueue, run_task


def judge(run):
    judges = LMJudge.objects.filter(pk__in=run.params.get("judge_ids", []))
    # A TransientBackendError is Retryable: the run decorator retries the run later with backoff.
    result = service.judge_project(
        run.project,
        judges=judges,
        item_ids=run.params.get("item_ids"),
        progress=lambda done, total: runs.set_progress(run, done, total),
    )
    for name, counts in result["judges"].items():
        runs.log(run, f"{name}: {counts}")
    unusable = unparsed_judges(result)
    if unusable:
        raise runs.RunFailed(
            "no reply parsed: "
            + "; ".join(f"{name}: {c['ok']} parsed, {c['unparsed']} unparsed" for name, c in unusable.items())
            + ". The unparsed labels are stored with their raw replies; check the judge's prompt, model and parser.",
            metrics=result,
        )
    return result


def unparsed_judges(result):
    """Judges that labelled items and could parse none of their replies: a run of theirs has not
    succeeded, whatever was stored."""
    return {name: c for name, c in result["judges"].items() if c["unparsed"] and not c["ok"]}


@run_task(queue="cpu")
def judge_with_servers(run):
    return judge(run)


@run_task(queue="gpu")
def judge_with_local_models(run):
    return judge(run)


def start_judging(project: Project, judges=None, user=None, item_ids=None):
    """One run per backend kind (local models on the GPU queue, servers on the CPU queue)."""
    judges = list(judges if judges is not None else project.judges.all())
    started = []
    for task, group in (  # models loaded in the worker on the GPU queue, the rest on the CPU queue
        (judge_with_local_models, [j for j in judges if queue_for(j) == "gpu"]),
        (judge_with_servers, [j for j in judges if queue_for(j) != "gpu"]),
    ):
        if group:
            run = runs.create_run(
                RunKind.JUDGE,
                project=project,
                user=user,
                task_name=task.name,
                params={"judge_ids": [j.pk for j in group], "item_ids": item_ids},
            )
            enqueue(task, run)
            run.refresh_from_db()
            started.append(run)
    return started


@run_task(queue="cpu")
def train_embedding_judge(run):
    judge = LMJudge.objects.get(pk=run.params["judge_id"])
    trained = reward_training.train_embedding_judge(judge, run.params["item_ids"])
    runs.log(
        run,
        f"{judge.name}: Bradley–Terry head on {trained.labelled_pairs} labelled pairs "
        f"(training accuracy {trained.train_accuracy:.3f}); it will not label these items",
    )
    return {
        "judge": judge.name,
        "training_items": trained.training_items,
        "labelled_pairs": trained.labelled_pairs,
        "train_accuracy": trained.train_accuracy,
    }


def start_training(project, judge, item_ids, user=None):
    run = runs.create_run(
        RunKind.JUDGE_TRAINING,
        project=project,
        user=user,
        task_name=train_embedding_judge.name,
        params={"judge_id": judge.pk, "item_ids": [int(i) for i in item_ids]},
    )
    enqueue(train_embedding_judge, run)
    run.refresh_from_db()
    return run
