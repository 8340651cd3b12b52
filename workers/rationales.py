"""Rationale generation (Data-Centric Human Preference Optimization with Rationales, Just et al. 2024):
for each pair of a snapshot a model writes why the chosen response is better; for a binary item,
why it got its thumbs down (or up). Rationales are stored per item with the model that wrote them.

Re-runnable: items that already have a rationale from this run are skipped, and each batch is
saved as it is generated, so a worker that dies mid-run loses at most one batch of work.
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User

from curation.models import Snapshot, SnapshotRow
from workers import runs
from workers.ml.loading import generate
from workers.models import ModelSpec, Rationale, RunKind, TaskRun

INSTRUCTIONS = {
    "pair": (
        "Two responses to the same prompt were compared and the first was preferred. In two or three "
        "sentences, explain why the preferred response is better than the other one."
    ),
    "down": (
        "A reviewer gave this response a thumbs down. In two or three sentences, explain what is wrong "
        "with it{principles}."
    ),
    "up": "A reviewer gave this response a thumbs up. In one or two sentences, explain what makes it good.",
}
KINDS = ("pairwise", "edit", "binary")


def rationale_messages(kind, data):
    """The conversation a model answers with a rationale for one snapshot row."""
    if kind in ("pairwise", "edit"):
        body = (
            f"{INSTRUCTIONS['pair']}\n\nPrompt:\n{data['prompt']}\n\nPreferred response:\n{data['chosen']}"
            f"\n\nOther response:\n{data['rejected']}"
        )
    else:
        failed = data.get("failed_principles") or []
        which = "down" if not data.get("label") else "up"
        principles = f" (it was said to fail: {', '.join(failed)})" if failed and which == "down" else ""
        body = f"{INSTRUCTIONS[which].format(principles=principles)}\n\nPrompt:\n{data['prompt']}\n\nResponse:\n{data['completion']}"
    return [{"role": "user", "content": body}]


def start_rationale_run(
    snapshot: Snapshot,
    model_spec: ModelSpec,
    user: User | None = None,
    kinds: Iterable[str] = KINDS,
    batch_size: int = 8,
    max_new_tokens: int = 96,
) -> TaskRun:
    """Create the run (the view or a schedule then enqueues `tasks.rationales.generate_rationales`)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown row kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    params = {
        "snapshot_id": snapshot.pk,
        "model_spec_id": model_spec.pk,
        "kinds": list(kinds),
        "batch_size": int(batch_size),
        "max_new_tokens": int(max_new_tokens),
    }
    return runs.create_run(RunKind.RATIONALE, project=snapshot.project, params=params, user=user)


def generate_rationales(run: TaskRun) -> dict[str, Any]:
    p = run.params
    snapshot = Snapshot.objects.get(pk=p["snapshot_id"])
    spec = ModelSpec.objects.get(pk=p["model_spec_id"])
    rows = list(
        SnapshotRow.objects.filter(snapshot=snapshot, kind__in=p.get("kinds", KINDS), item__isnull=False)
        .order_by("id")
        .values_list("item_id", "kind", "data")
    )
    done = set(Rationale.objects.filter(run=run).values_list("item_id", flat=True))
    todo = [(item_id, kind, data) for item_id, kind, data in rows if item_id not in done]
    total = len({item_id for item_id, _, _ in rows})
    runs.log(run, f"{len(todo)} of {total} items to explain with {spec.name}")
    runs.set_progress(run, len(done), total)

    def save(offset, texts):
        batch = todo[offset : offset + len(texts)]
        Rationale.objects.bulk_create(
            [
                Rationale(item_id=item_id, text=text, model_name=spec.name, run=run)
                for (item_id, _, _), text in zip(batch, texts)
            ],
            ignore_conflicts=True,  # a row written by a worker that died after saving is kept, not doubled
        )
        runs.set_progress(run, len(done) + offset + len(texts))

    generate(
        spec,
        [rationale_messages(kind, data) for _, kind, data in todo],
        max_new_tokens=p.get("max_new_tokens", 96),
        batch_size=p.get("batch_size", 8),
        on_batch=save,
    )
    written = Rationale.objects.filter(run=run).count()
    runs.log(run, f"{written} rationales written")
    return {"rationales": written, "items": total, "model": spec.name}
