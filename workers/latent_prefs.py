"""Learning from edits (PRELUDE / CIPHER, Gao et al. 2024, "Aligning LLM Agents by Learning Latent
Preference from User Edits").

- infer: for each edit, a model reads (context, original, edited) and writes a short description
  of the preference the edit reveals; stored per annotator with the context's MiniLM embedding;
- retrieve: for a new context, the k stored preferences of that annotator whose contexts are most
  similar (cosine on unit-norm embeddings);
- aggregate: CIPHER aggregates the retrieved descriptions into one instruction (here: with the
  model when one is given, otherwise the distinct descriptions, most similar first);
- the instruction conditions generation of new candidates (workers/generation.py);
- the cost CIPHER minimises is the user's edit distance: `edit_distance_by_annotator` tracks it.
Annotators may correct a description; the correction is used from then on.
"""
from collections import defaultdict

import numpy as np
from django.db.models import Avg, Count
from django.db.models.functions import TruncDate

from annotate.models import Annotation, AnnotationStatus, AnnotatorKind, FeedbackKind

from . import runs
from .models import LatentPreference, ModelSpec, RunKind

INFER_INSTRUCTION = (
    "A user rewrote an assistant's answer. Compare the original with the user's edited version and "
    "describe, in one short sentence, the user's preference that explains the edit "
    "(for example: \"prefers concise answers with a bulleted list\")."
)
AGGREGATE_INSTRUCTION = (
    "Here are preferences a user showed in similar situations. Write one short instruction for an "
    "assistant that respects all of them, without repeating yourself."
)


def infer_messages(context, original, edited):
    return [{"role": "user", "content": f"{INFER_INSTRUCTION}\n\nContext:\n{context}\n\nOriginal answer:\n{original}"
                                        f"\n\nEdited answer:\n{edited}\n\nPreference:"}]


def pending_edits(project):
    return (Annotation.objects.filter(item__project=project, kind=FeedbackKind.EDIT, status=AnnotationStatus.OK,
                                      edited_text__isnull=False, annotator__kind=AnnotatorKind.HUMAN,
                                      latent_preference__isnull=True)
            .select_related("item__prompt", "item__response_a").order_by("id"))


def start_inference_run(project, model_spec, user=None, batch_size=8, max_new_tokens=48):
    params = {"model_spec_id": model_spec.pk, "batch_size": int(batch_size), "max_new_tokens": int(max_new_tokens)}
    return runs.create_run(RunKind.PREFERENCES, project=project, params=params, user=user)


def embed(texts):
    from .embeddings import embed as minilm

    return minilm(texts)


def infer_preferences(run):
    """The service behind the task: one LatentPreference per edit not yet described (re-runnable)."""
    from .loading import generate

    spec = ModelSpec.objects.get(pk=run.params["model_spec_id"])
    edits = list(pending_edits(run.project))
    runs.set_progress(run, 0, len(edits))
    runs.log(run, f"{len(edits)} edits to describe with {spec.name}")
    if not edits:
        return {"preferences": 0}
    contexts = [a.item.prompt.text for a in edits]
    vectors = embed(contexts)

    def save(offset, texts):
        batch = edits[offset:offset + len(texts)]
        LatentPreference.objects.bulk_create([
            LatentPreference(project=run.project, annotator_id=a.annotator_id, annotation=a, context=contexts[offset + i],
                             description=_one_line(text) or "(no preference inferred)",
                             embedding=[round(float(x), 6) for x in vectors[offset + i]], model_name=spec.name, run=run)
            for i, (a, text) in enumerate(zip(batch, texts))
        ], ignore_conflicts=True)  # one per annotation, whoever wrote it first
        runs.set_progress(run, offset + len(texts))

    generate(spec, [infer_messages(c, a.item.response_a.text, a.edited_text) for c, a in zip(contexts, edits)],
             max_new_tokens=run.params.get("max_new_tokens", 48), batch_size=run.params.get("batch_size", 8), on_batch=save)
    return {"preferences": LatentPreference.objects.filter(run=run).count(), "model": spec.name}


def _one_line(text):
    return " ".join(text.split())[:500]


MIN_SIMILARITY = 0.2  # MiniLM cosine below this is an unrelated context: its preference does not apply


def retrieve(annotator, project, context, k=5, min_similarity=MIN_SIMILARITY):
    """The annotator's k stored preferences nearest to `context`: [(preference, cosine)], best first."""
    prefs = list(LatentPreference.objects.filter(project=project, annotator=annotator).exclude(embedding=[]))
    if not prefs:
        return []
    query = embed([context])[0]
    matrix = np.asarray([p.embedding for p in prefs], dtype=np.float32)
    scores = matrix @ query
    order = np.argsort(-scores)[:k]
    return [(prefs[i], float(scores[i])) for i in order if scores[i] >= min_similarity]


def aggregate(retrieved, model_spec=None):
    """One instruction from the retrieved preferences."""
    texts = list(dict.fromkeys(p.text.strip().rstrip(".") for p, _ in retrieved if p.text.strip()))
    if not texts:
        return ""
    if model_spec is None or len(texts) == 1:
        return "; ".join(texts) + "."
    from .loading import generate

    listing = "\n".join(f"- {t}" for t in texts)
    reply = generate(model_spec, [[{"role": "user", "content": f"{AGGREGATE_INSTRUCTION}\n\n{listing}\n\nInstruction:"}]],
                     max_new_tokens=64)[0]
    return _one_line(reply) or "; ".join(texts) + "."


def instruction_for(annotator, project, context, k=5, model_spec=None):
    """The aggregated latent preference to use as an instruction when generating for this context."""
    return aggregate(retrieve(annotator, project, context, k), model_spec)


def correct(preference, text):
    text = text.strip()
    if len(text) > 1000:
        raise ValueError("keep the description under 1000 characters")
    preference.corrected = text
    preference.save(update_fields=["corrected", "updated_at"])
    return preference


def edit_distance_by_annotator(project):
    """CIPHER's cost: mean normalised edit distance per annotator per day. {name: [(date, mean, n)]}."""
    rows = (Annotation.objects.filter(item__project=project, kind=FeedbackKind.EDIT, edit_distance__isnull=False,
                                      annotator__kind=AnnotatorKind.HUMAN)
            .annotate(day=TruncDate("created_at")).values("annotator__name", "day")
            .annotate(mean=Avg("edit_distance"), n=Count("id")).order_by("annotator__name", "day"))
    out = defaultdict(list)
    for r in rows:
        out[r["annotator__name"]].append((r["day"], round(r["mean"], 4), r["n"]))
    return dict(out)
