"""Preference groups of a project's people, and which items are controversial rather than noisy.

`fit_groups` reads every decisive pairwise label from people (humans and imported sources), embeds
each labelled item once (MiniLM, prompt ⊕ response, like the noise neighbourhoods), fits the
mixture of Bradley–Terry heads in curation.mixture and stores a PreferenceGroupRun.

Controversial: an item that people split on (labels on both sides) where at least two groups'
heads take opposite sides and each label agrees with its annotator's group at least
`EXPLAINED` of the time: the disagreement is opinion the groups account for, not noise. Noise
actions skip such items, ε leaves them out, and every export row carries the flag.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from threadpoolctl import threadpool_limits

from annotate.models import FeedbackKind, Item, Prompt
from curation.labels import PERSON_KINDS, label_rows, pseudonym
from curation.mixture import Labels, Projection, choose_and_fit, fit_router
from curation.models import PreferenceGroupRun
from workers.ml.embeddings import embed as _embed

EXPLAINED = 0.75
SIDE_MARGIN = 0.1  # a head "takes a side" when |P(B ≻ A) − ½| exceeds this
DIMS = 32
TOP_DISAGREEMENTS = 25


def embed(texts: Sequence[str]) -> np.ndarray:
    return _embed(texts, max_tokens=128)  # the gist is enough to place a pair; half the cost of 256


def _pair_text(prompt, response):
    return f"{prompt}\n\n{response}"


@dataclass
class GroupInputs:
    labels: Labels
    annotator_ids: list  # index → Annotator pk
    annotator_meta: dict  # pk → (name, kind)
    item_ids: list  # index → Item pk
    prompt_of_item: np.ndarray  # item index → prompt index
    prompt_texts: list


def gather(project) -> GroupInputs:
    """People's decisive pairwise labels, indexed."""
    ann_index: dict[int, int] = {}
    item_index: dict[int, int] = {}
    meta: dict[int, tuple[str, str]] = {}
    a: list[int] = []
    i: list[int] = []
    y: list[int] = []
    for r in label_rows(project, kinds=[FeedbackKind.PAIRWISE]):
        if r["annotator_kind"] not in PERSON_KINDS or not r["direction"]:
            continue
        a.append(ann_index.setdefault(r["annotator_id"], len(ann_index)))
        i.append(item_index.setdefault(r["item_id"], len(item_index)))
        y.append(int(r["direction"] > 0))
        meta[r["annotator_id"]] = (r["annotator_name"], r["annotator_kind"])
    item_ids = list(item_index)
    prompts = dict(Item.objects.filter(id__in=item_ids).values_list("id", "prompt_id"))
    prompt_index: dict[int, int] = {}
    prompt_of_item = np.array([prompt_index.setdefault(prompts[i], len(prompt_index)) for i in item_ids], dtype=int)
    texts = dict(Prompt.objects.filter(id__in=list(prompt_index)).values_list("id", "text"))
    return GroupInputs(
        Labels(np.array(a, dtype=int), np.array(i, dtype=int), np.array(y, dtype=int)),
        list(ann_index),
        meta,
        item_ids,
        prompt_of_item,
        [texts[p] for p in prompt_index],
    )


def item_differences(item_ids, embed_fn=embed) -> np.ndarray:
    """items × 384: e(prompt ⊕ B) − e(prompt ⊕ A), in item_ids order."""
    rows = {
        r[0]: r[1:]
        for r in Item.objects.filter(id__in=item_ids).values_list(
            "id", "prompt__text", "response_a__text", "response_b__text"
        )
    }
    a = embed_fn([_pair_text(rows[i][0], rows[i][1]) for i in item_ids])
    b = embed_fn([_pair_text(rows[i][0], rows[i][2] or "") for i in item_ids])
    return np.asarray(b, dtype=float) - np.asarray(a, dtype=float)


def controversial_indices(probs, labels, groups, explained=EXPLAINED, margin=SIDE_MARGIN) -> list:
    """Item indices whose people split and whose split the groups explain."""
    by_item = defaultdict(list)
    for a, i, y in zip(labels.annotator, labels.item, labels.y):
        by_item[i].append((groups[a], y))
    out = []
    for i, votes in by_item.items():
        if len({y for _, y in votes}) < 2:
            continue
        sides = {g: probs[i, g] > 0.5 for g, _ in votes if abs(probs[i, g] - 0.5) > margin}
        if len(set(sides.values())) < 2:
            continue
        agree = sum(1 for g, y in votes if (probs[i, g] > 0.5) == bool(y)) / len(votes)
        if agree >= explained:
            out.append(int(i))
    return out


def fit_groups(project, task_run=None, k_max=4, embed_fn=embed, seed=0) -> PreferenceGroupRun:
    """Fit, store and return the project's preference groups."""
    data = gather(project)
    if len(data.labels.y) < 10 or len(data.annotator_ids) < 2:
        raise ValueError("preference groups need at least 10 decisive pairwise labels from 2 or more people")
    diffs = item_differences(data.item_ids, embed_fn)
    prompt_vectors = np.asarray(embed_fn(data.prompt_texts), dtype=float)
    with threadpool_limits(1):  # small matrices: extra BLAS threads only contend with other work
        projection = Projection.fit(diffs, DIMS, center=False)
        x = projection(diffs)
        fit = choose_and_fit(x, data.labels, len(data.annotator_ids), k_max=k_max, seed=seed)
        prompt_projection = Projection.fit(prompt_vectors, DIMS)
        z = prompt_projection(prompt_vectors)
        fit.router = fit_router(fit, x, z, data.labels, data.prompt_of_item)
    probs = fit.item_probs(x)
    groups = fit.weights.argmax(axis=1)
    controversial = controversial_indices(probs, data.labels, groups) if fit.k > 1 else []
    counts = np.bincount(data.labels.annotator, minlength=len(data.annotator_ids))
    annotators = [
        {
            "annotator_id": pk,
            "pseudonym": pseudonym(pk),
            "name": data.annotator_meta[pk][0],
            "kind": data.annotator_meta[pk][1],
            "labels": int(counts[j]),
            "weights": [round(float(w), 4) for w in fit.weights[j]],
        }
        for j, pk in enumerate(data.annotator_ids)
    ]
    spread = probs.max(axis=1) - probs.min(axis=1)
    order = np.argsort(-spread)[:TOP_DISAGREEMENTS] if fit.k > 1 else np.zeros(0, dtype=int)
    routed = fit.route(z[data.prompt_of_item[order]]) if len(order) else np.zeros((0, fit.k))
    with transaction.atomic():
        if task_run is not None:  # a retried task replaces its own earlier result
            PreferenceGroupRun.objects.filter(project=project, details__task_run=task_run.pk).delete()
        return PreferenceGroupRun.objects.create(
            project=project,
            k=fit.k,
            heldout={str(k): v for k, v in fit.heldout.items()},
            annotators=annotators,
            item_probs={str(pk): [round(float(p), 4) for p in probs[j]] for j, pk in enumerate(data.item_ids)},
            controversial=sorted(data.item_ids[i] for i in controversial),
            router={
                "weights": fit.router.tolist(),
                "mean": prompt_projection.mean.tolist(),
                "components": prompt_projection.components.tolist(),
                "scale": prompt_projection.scale.tolist(),
            },
            details={
                "task_run": task_run.pk if task_run else None,
                "labels": int(len(data.labels.y)),
                "items": len(data.item_ids),
                "pi": [float(p) for p in fit.pi],
                "dims": int(x.shape[1]),
                "top_disagreements": [data.item_ids[i] for i in order],
                "router_weights": {
                    str(data.item_ids[i]): [round(float(w), 4) for w in r] for i, r in zip(order, routed)
                },
                "method": "mixture-bt-em+router (MiCRo-style)",
            },
        )


def latest_run(project) -> PreferenceGroupRun | None:
    return PreferenceGroupRun.objects.filter(project=project).first()


def group_members(run, group: int) -> list:
    """Annotator pks of one group: the people whose largest mixture weight is that group's
    (ties go to the lower group number). A per-group snapshot keeps only their labels."""
    if not 0 <= group < run.k:
        raise ValueError(
            f"group {group} does not exist: the latest fit has {run.k} group{'s' if run.k != 1 else ''} (0–{run.k - 1})"
        )
    return [a["annotator_id"] for a in run.annotators if int(np.argmax(a["weights"])) == group]


def controversial_items(project) -> set:
    run = latest_run(project)
    return set(run.controversial) if run else set()


def route_prompt(run, prompt_vector) -> np.ndarray:
    """The stored router's group weights for one prompt embedding."""
    r = run.router
    z = (np.asarray(prompt_vector) - np.asarray(r["mean"])) @ np.asarray(r["components"]).T / np.asarray(r["scale"])
    logits = np.asarray(r["weights"]) @ np.append(z, 1.0)
    w = np.exp(logits - logits.max())
    return w / w.sum()
