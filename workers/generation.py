"""New candidate responses from a fine-tuned or registered model for a project's prompts, turned
into items so the loop closes: curated data → trained model → new responses → the queue.

For each prompt the model writes `n` responses; each becomes
- pairwise: paired with the prompt's most recent response from another model (the baseline the new
  model should beat); a binary item when the prompt has no other response yet;
- binary: a thumbs up/down item;
- edit: an item to rewrite (the edits then feed learning from edits).
An optional instruction is given to the model as a system message: free text, and/or the latent
preference learned from one annotator's edits for each prompt (workers/latent_prefs.py), inserted
into the prompt as CIPHER does ("This user has the following preference: …"), aggregated by the
run's own model. Each response records the preference it was conditioned on, how it was aggregated
and for whom, so a later zero-cost edit can keep it and the PRELUDE cost can compare conditioned
with unconditioned generations.

Re-runnable: responses carry the run id; prompts that already have this run's responses are
skipped, and each prompt's responses and items are written in one transaction.
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from annotate.errors import Invalid
from annotate.models import Annotator, FeedbackKind, Item, Project, Prompt, Response
from workers import runs
from workers.latent_prefs import Aggregation, instruction_for
from workers.ml.loading import generate
from workers.models import ModelSpec, RunKind, TaskRun

ITEM_KINDS = ("pairwise", "binary", "edit")


def start_generation_run(
    project: Project,
    model_spec: ModelSpec,
    user: User | None = None,
    prompt_ids: Iterable[int] | None = None,
    n: int = 1,
    item_kind: str = "pairwise",
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    batch_size: int = 8,
    instruction: str = "",
    preference_annotator: Annotator | None = None,
) -> TaskRun:
    if item_kind not in ITEM_KINDS:
        raise Invalid(f"item kind must be one of {', '.join(ITEM_KINDS)}")
    if not 1 <= int(n) <= 16:
        raise Invalid("n must be between 1 and 16 responses per prompt")
    prompts = Prompt.objects.filter(project=project)
    if prompt_ids is not None:
        prompts = prompts.filter(pk__in=prompt_ids)
    if not prompts.exists():
        raise Invalid("the project has no prompts to generate for")
    params = {
        "model_spec_id": model_spec.pk,
        "prompt_ids": sorted(prompts.values_list("pk", flat=True)),
        "n": int(n),
        "item_kind": item_kind,
        "max_new_tokens": int(max_new_tokens),
        "temperature": float(temperature),
        "batch_size": int(batch_size),
        "instruction": instruction.strip(),
        "preference_annotator_id": preference_annotator.pk if preference_annotator else None,
    }
    return runs.create_run(RunKind.GENERATE, project=project, params=params, user=user)


PREFERENCE_TEMPLATE = "This user has the following preference: {preference} Write your answer to follow it."


def system_message(instruction: str, preference: str = "") -> str:
    parts = [instruction.strip()] if instruction and instruction.strip() else []
    if preference:
        parts.append(PREFERENCE_TEMPLATE.format(preference=preference))
    return " ".join(parts)


def conversation(prompt: Prompt, instruction: str, preference: str = "") -> list[dict[str, str]]:
    messages = list(prompt.messages or [{"role": "user", "content": prompt.text}])
    instruction = system_message(instruction, preference)
    if instruction:
        messages = [{"role": "system", "content": instruction}] + [m for m in messages if m.get("role") != "system"]
    return messages


def preference_for_prompt(run: TaskRun, prompt: Prompt, spec: ModelSpec) -> Aggregation | None:
    """The latent preference to condition on for this prompt, or None."""
    annotator_id = run.params.get("preference_annotator_id")
    if not annotator_id:
        return None
    annotator = Annotator.objects.get(pk=annotator_id)
    return instruction_for(annotator, runs.project_of(run), prompt.text, model_spec=spec)


def _baseline(prompt, model_name):
    return prompt.responses.exclude(model_name=model_name).order_by("-created_at", "-id").first()


def _write(run, spec, prompt, texts, preference):
    """One prompt's responses and items, atomically."""
    kind = run.params.get("item_kind", "pairwise")
    created = 0
    with transaction.atomic():
        baseline = _baseline(prompt, spec.name) if kind == "pairwise" else None
        for i, text in enumerate(texts):
            meta = {"run": run.pk, "sample": i, "instruction": run.params.get("instruction") or ""}
            if preference is not None:
                meta.update(
                    preference=preference.text,
                    aggregated=preference.method,
                    aggregated_by=preference.model_name,
                    preference_annotator=run.params.get("preference_annotator_id"),
                )
            response = Response.objects.create(prompt=prompt, text=text, model_name=spec.name, metadata=meta)
            meta = {"generated_by_run": run.pk}
            if kind == "pairwise" and baseline is not None:
                Item.objects.create(
                    project=run.project,
                    prompt=prompt,
                    kind=FeedbackKind.PAIRWISE,
                    response_a=response,
                    response_b=baseline,
                    metadata=meta,
                )
            else:
                Item.objects.create(
                    project=run.project,
                    prompt=prompt,
                    response_a=response,
                    metadata=meta,
                    kind=FeedbackKind.EDIT if kind == "edit" else FeedbackKind.BINARY,
                )
            created += 1
    return created


def generate_candidates(run: TaskRun) -> dict[str, Any]:
    p = run.params
    spec = ModelSpec.objects.get(pk=p["model_spec_id"])
    done = set(Response.objects.filter(metadata__run=run.pk).values_list("prompt_id", flat=True))
    prompts = [pr for pr in Prompt.objects.filter(pk__in=p["prompt_ids"]).order_by("id") if pr.pk not in done]
    total = len(p["prompt_ids"])
    runs.set_progress(run, len(done), total)
    runs.log(run, f"{len(prompts)} of {total} prompts to answer with {spec.name}, {p['n']} response(s) each")
    n = p.get("n", 1)
    preferences = {pr.pk: preference_for_prompt(run, pr, spec) for pr in prompts}
    conditions = {pk: a.text if a else "" for pk, a in preferences.items()}
    instruction = p.get("instruction") or ""
    # n samples per prompt: the prompt repeated n times, consecutive, so one prompt's samples stay together
    batch_prompts = max(1, p.get("batch_size", 8) // n)
    created = 0
    for start in range(0, len(prompts), batch_prompts):
        chunk = prompts[start : start + batch_prompts]
        convs = [conversation(pr, instruction, conditions[pr.pk]) for pr in chunk for _ in range(n)]
        replies = generate(
            spec,
            convs,
            max_new_tokens=p.get("max_new_tokens", 256),
            batch_size=len(convs),
            temperature=p.get("temperature", 0.7),
            seed=run.pk + start,
        )
        for j, pr in enumerate(chunk):
            created += _write(run, spec, pr, replies[j * n : (j + 1) * n], preferences[pr.pk])
        runs.set_progress(run, len(done) + start + len(chunk))
    items = Item.objects.filter(project=run.project, metadata__generated_by_run=run.pk).count()
    runs.log(run, f"{created} responses written; {items} items for the queue")
    return {"created": items, "responses": Response.objects.filter(metadata__run=run.pk).count(), "model": spec.name}
