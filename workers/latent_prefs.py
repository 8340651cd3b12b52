"""Learning from edits (PRELUDE / CIPHER, Gao et al. 2024, "Aligning LLM Agents by Learning Latent
Preference from User Edits").

- infer: for each edit, a model reads (context, original, edited) and writes a short description
  of the preference the edit reveals; stored per annotator with the context's MiniLM embedding;
- retrieve: for a new context, the k stored preferences of that annotator whose contexts are most
  similar (cosine on unit-norm embeddings);
- aggregate: CIPHER asks the LLM to aggregate the retrieved descriptions into one preference. Runs
  (generation, inference) aggregate with their model; `generation_model` names the project's
  configured one. Joining the distinct descriptions is only the fallback, labelled as such
  (`Aggregation.method`): the web fragment beside the editor never runs a model in a request;
- an edit with zero cost ("accept as is": edited text equal to the response) keeps the preference
  that was retrieved for it, as CIPHER's `learn` does: the one the response was generated with when
  it was, else the aggregation of what would have been retrieved then (earlier edits only);
- the preference conditions generation of new candidates (workers/generation.py);
- the cost CIPHER minimises is the user's edit distance: `edit_distance_by_annotator` and
  workers/prelude_cost.py track it.
Annotators may correct a description; the correction is used from then on.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import Avg, Count, QuerySet
from django.db.models.functions import TruncDate

from annotate.errors import Invalid
from annotate.models import Annotation, AnnotationStatus, Annotator, AnnotatorKind, FeedbackKind, Project
from workers import runs
from workers.ml.embeddings import embed as minilm
from workers.ml.loading import generate
from workers.models import LatentPreference, ModelSpec, RunKind, RunState, TaskRun

INFER_INSTRUCTION = (
    "A user rewrote an assistant's answer. Compare the original with the user's edited version and "
    "describe, in one short sentence, the user's preference that explains the edit "
    '(for example: "prefers concise answers with a bulleted list").'
)
NO_PREFERENCE = "(no preference inferred)"
AGGREGATE_INSTRUCTION = (
    "Here are preferences a user showed in similar situations. Write one short instruction for an "
    "assistant that respects all of them, without repeating yourself."
)


def infer_messages(context, original, edited):
    return [
        {
            "role": "user",
            "content": f"{INFER_INSTRUCTION}\n\nContext:\n{context}\n\nOriginal answer:\n{original}"
            f"\n\nEdited answer:\n{edited}\n\nPreference:",
        }
    ]


def pending_edits(project: Project) -> QuerySet[Annotation]:
    return (
        Annotation.objects.filter(
            item__project=project,
            kind=FeedbackKind.EDIT,
            status=AnnotationStatus.OK,
            edited_text__isnull=False,
            annotator__kind=AnnotatorKind.HUMAN,
            latent_preference__isnull=True,
        )
        .select_related("item__prompt", "item__response_a")
        .order_by("id")
    )


def start_inference_run(
    project: Project, model_spec: ModelSpec, user: User | None = None, batch_size: int = 8, max_new_tokens: int = 48
) -> TaskRun:
    params = {"model_spec_id": model_spec.pk, "batch_size": int(batch_size), "max_new_tokens": int(max_new_tokens)}
    return runs.create_run(RunKind.PREFERENCES, project=project, params=params, user=user)


def embed(texts: Iterable[str]) -> np.ndarray:
    return minilm(texts)


def is_zero_cost(annotation: Annotation) -> bool:
    """CIPHER's "no edit": the user accepted the response as it was."""
    return (annotation.edited_text or "").strip() == (annotation.item.response_a.text or "").strip()


def infer_preferences(run: TaskRun) -> dict[str, Any]:
    """The service behind the task: one LatentPreference per edit not yet described (re-runnable).
    Edits with a cost get a description inferred by the model; zero-cost edits keep the preference
    retrieved for them (CIPHER), aggregated by the project's generation model (this run's if none)."""

    spec = ModelSpec.objects.get(pk=run.params["model_spec_id"])
    pending = list(pending_edits(runs.project_of(run)))
    edits = [a for a in pending if not is_zero_cost(a)]
    accepted = [a for a in pending if is_zero_cost(a)]
    runs.set_progress(run, 0, len(pending))
    runs.log(run, f"{len(edits)} edits to describe and {len(accepted)} accepted as is, with {spec.name}")
    if not pending:
        return {"preferences": 0, "kept": 0}
    contexts = [a.item.prompt.text for a in pending]
    vectors = dict(zip((a.pk for a in pending), embed(contexts)))

    def store(annotation, description, model_name):
        LatentPreference.objects.bulk_create(
            [
                LatentPreference(
                    project=run.project,
                    annotator_id=annotation.annotator_id,
                    annotation=annotation,
                    context=annotation.item.prompt.text,
                    description=description,
                    embedding=[round(float(x), 6) for x in vectors[annotation.pk]],
                    model_name=model_name,
                    run=run,
                )
            ],
            ignore_conflicts=True,
        )  # one per annotation, whoever wrote it first

    def save(offset, texts):
        for a, text in zip(edits[offset : offset + len(texts)], texts):
            store(a, _one_line(text) or NO_PREFERENCE, spec.name)
        runs.set_progress(run, offset + len(texts))

    if edits:
        generate(
            spec,
            [infer_messages(a.item.prompt.text, a.item.response_a.text, a.edited_text) for a in edits],
            max_new_tokens=run.params.get("max_new_tokens", 48),
            batch_size=run.params.get("batch_size", 8),
            on_batch=save,
        )
    aggregator = generation_model(runs.project_of(run)) or spec  # CIPHER aggregates with the agent's own model
    for i, a in enumerate(accepted):  # in time order: each sees the preferences stored before it
        kept = kept_preference(a, aggregator)
        store(a, kept.text or NO_PREFERENCE, f"kept ({kept.method}{': ' + kept.model_name if kept.model_name else ''})")
        runs.set_progress(run, len(edits) + i + 1)
    return {"preferences": LatentPreference.objects.filter(run=run).count(), "kept": len(accepted), "model": spec.name}


def kept_preference(annotation: Annotation, model_spec: ModelSpec | None = None) -> "Aggregation":
    """The preference CIPHER keeps for a zero-cost edit: the one the response was generated with for
    this annotator, else what retrieval and aggregation would have given before this edit."""
    meta = annotation.item.response_a.metadata or {}
    if meta.get("preference") and meta.get("preference_annotator") == annotation.annotator_id:
        return Aggregation(meta["preference"], "generated with", meta.get("aggregated_by", ""))
    retrieved = retrieve(
        annotation.annotator, annotation.item.project, annotation.item.prompt.text, before=annotation.created_at
    )
    return aggregate(retrieved, model_spec)


def _one_line(text):
    return " ".join(text.split())[:500]


MIN_SIMILARITY = 0.2  # MiniLM cosine below this is an unrelated context: its preference does not apply


def retrieve(
    annotator: Annotator,
    project: Project,
    context: str,
    k: int = 5,
    min_similarity: float = MIN_SIMILARITY,
    before: datetime | None = None,
) -> list[tuple[LatentPreference, float]]:
    """The annotator's k stored preferences nearest to `context`: [(preference, cosine)], best first.
    before: only preferences from edits made before this time (what CIPHER had at that point)."""
    found = LatentPreference.objects.filter(project=project, annotator=annotator).exclude(embedding=[])
    if before is not None:
        found = found.filter(annotation__created_at__lt=before)
    prefs = list(found)
    if not prefs:
        return []
    query = embed([context])[0]
    matrix = np.asarray([p.embedding for p in prefs], dtype=np.float32)
    scores = matrix @ query
    order = np.argsort(-scores)[:k]
    return [(prefs[i], float(scores[i])) for i in order if scores[i] >= min_similarity]


@dataclass(frozen=True)
class Aggregation:
    """One preference from the retrieved ones. method: "model" (aggregated by `model_name`),
    "joined" (the fallback: distinct descriptions, most similar first), "single" (one description,
    nothing to aggregate), "generated with" (kept from the response's generation) or "none"."""

    text: str
    method: str
    model_name: str = ""
    sources: tuple = field(default_factory=tuple)  # LatentPreference ids, most similar first


def _joined(texts):
    return "; ".join(texts) + "."


def aggregate(retrieved: list[tuple[LatentPreference, float]], model_spec: ModelSpec | None = None) -> Aggregation:
    """One preference from the retrieved ones: by the model when one is given (CIPHER), else joined."""
    texts = list(
        dict.fromkeys(
            p.text.strip().rstrip(".") for p, _ in retrieved if p.text.strip() and p.text.strip() != NO_PREFERENCE
        )
    )
    sources = tuple(p.pk for p, _ in retrieved)
    if not texts:
        return Aggregation("", "none", sources=sources)
    if model_spec is None:
        return Aggregation(_joined(texts), "single" if len(texts) == 1 else "joined", sources=sources)

    listing = "\n".join(f"- {t}" for t in texts)
    reply = _one_line(
        generate(
            model_spec,
            [[{"role": "user", "content": f"{AGGREGATE_INSTRUCTION}\n\n{listing}\n\nInstruction:"}]],
            max_new_tokens=64,
            temperature=0,
        )[0]
    )
    if not reply:
        return Aggregation(_joined(texts), "joined", sources=sources)  # the model said nothing: the fallback, labelled
    return Aggregation(reply, "model", model_spec.name, sources)


def instruction_for(
    annotator: Annotator, project: Project, context: str, k: int = 5, model_spec: ModelSpec | None = None
) -> Aggregation:
    """The aggregated latent preference to condition generation on for this context."""
    return aggregate(retrieve(annotator, project, context, k), model_spec)


def generation_model(project: Project) -> ModelSpec | None:
    """The project's configured generation model: the model of its latest successful generation
    run, else of its latest preference-inference run; None when it has neither."""
    for kind in (RunKind.GENERATE, RunKind.PREFERENCES):
        run = (
            TaskRun.objects.filter(project=project, kind=kind, state=RunState.SUCCEEDED)
            .order_by("-created_at", "-id")
            .first()
        )
        if run and run.params.get("model_spec_id"):
            spec = ModelSpec.objects.filter(pk=run.params["model_spec_id"]).first()
            if spec:
                return spec
    return None


def correct(preference: LatentPreference, text: str) -> LatentPreference:
    text = text.strip()
    if len(text) > 1000:
        raise Invalid("keep the description under 1000 characters")
    preference.corrected = text
    preference.save(update_fields=["corrected", "updated_at"])
    return preference


def edit_distance_by_annotator(project: Project) -> dict[str, list[tuple[date, float, int]]]:
    """CIPHER's cost: mean normalised edit distance per annotator per day. {name: [(date, mean, n)]}."""
    rows = (
        Annotation.objects.filter(
            item__project=project,
            kind=FeedbackKind.EDIT,
            edit_distance__isnull=False,
            annotator__kind=AnnotatorKind.HUMAN,
        )
        .annotate(day=TruncDate("created_at"))
        .values("annotator__name", "day")
        .annotate(mean=Avg("edit_distance"), n=Count("id"))
        .order_by("annotator__name", "day")
    )
    out: defaultdict[str, list[tuple[date, float, int]]] = defaultdict(list)
    for r in rows:
        out[r["annotator__name"]].append((r["day"], round(r["mean"], 4), r["n"]))
    return dict(out)
