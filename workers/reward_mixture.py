"""The `reward_mixture` fine-tune kind: a mixture reward model trained from a snapshot's individual
labels (the `labels` export), embedding heads on CPU.

The snapshot's people's labels (ties dropped) become pairs (prompt ⊕ chosen, prompt ⊕ rejected)
per pseudonymous annotator; curation.mixture fits K Bradley–Terry heads over the MiniLM
differences with K by held-out likelihood, each annotator's weights, and the prompt router. The
reward of a response for group k is w_k · P(e(prompt ⊕ response)) (P the stored projection; a
difference of two rewards is the head's logit). Artifacts: mixture.npz (heads, projections,
router, annotator pseudonyms and weights) and metrics.json. Evaluation on the test split: a label
of a known annotator is predicted with their weights, an unknown one's with the router's.

Not done here: reward-model heads with LoRA on a GPU (the issue's second half); the config takes
only `k_max`.
"""
import json
from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

from curation.formats import iter_export_rows
from curation.mixture import Labels, Projection, choose_and_fit, fit_router

from .embeddings import embed

CONFIG_FIELDS = {"k_max"}
PERSON_KINDS = ("human", "source")


def check_config(config):
    unknown = sorted(set(config or {}) - CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"reward_mixture takes only {', '.join(sorted(CONFIG_FIELDS))}; not {', '.join(unknown)}")


def _pairs(snapshot, split):
    return [r for r in iter_export_rows(snapshot, "labels", split=split)
            if r["annotator_kind"] in PERSON_KINDS and r["preference"]]


def _encode(rows, pair_index, prompt_index):
    for r in rows:
        pair_index.setdefault((r["prompt"], r["chosen"], r["rejected"]), len(pair_index))
        prompt_index.setdefault(r["prompt"], len(prompt_index))


def train_mixture(snapshot, out, config=None, log=print) -> dict:
    """Fit and save the mixture; returns the run's metrics."""
    check_config(config)
    train, test = _pairs(snapshot, "train"), _pairs(snapshot, "test")
    annotators = sorted({r["annotator"] for r in train})
    if len(train) < 10 or len(annotators) < 2:
        raise ValueError("reward_mixture needs at least 10 decisive people's labels from 2 or more annotators in the train split")
    pair_index, prompt_index = {}, {}
    _encode(train + test, pair_index, prompt_index)
    pairs = list(pair_index)
    chosen = embed([f"{p}\n\n{c}" for p, c, _ in pairs], max_tokens=128)
    rejected = embed([f"{p}\n\n{r}" for p, _, r in pairs], max_tokens=128)
    prompts = embed(list(prompt_index), max_tokens=128)
    diffs = np.asarray(chosen, dtype=float) - np.asarray(rejected, dtype=float)
    who = {a: i for i, a in enumerate(annotators)}

    def labels(rows):
        return Labels(np.array([who.get(r["annotator"], -1) for r in rows], dtype=int),
                      np.array([pair_index[(r["prompt"], r["chosen"], r["rejected"])] for r in rows], dtype=int),
                      np.array([int(r["preference"] > 0) for r in rows], dtype=int))

    with threadpool_limits(1):
        projection = Projection.fit(diffs, 32, center=False)
        x = projection(diffs)
        fit = choose_and_fit(x, labels(train), len(annotators), k_max=int((config or {}).get("k_max", 4)))
        prompt_projection = Projection.fit(prompts, 32)
        z = prompt_projection(prompts)
        prompt_of_pair = np.array([prompt_index[p] for p, _, _ in pairs], dtype=int)
        fit.router = fit_router(fit, x, z, labels(train), prompt_of_pair)
    log(f"reward_mixture: K = {fit.k} over {len(train)} labels from {len(annotators)} annotators")
    evaluation = _evaluate(fit, x, z, prompt_of_pair, labels(test))
    np.savez(out / "mixture.npz", heads=fit.heads, pi=fit.pi, weights=fit.weights, router=fit.router,
             annotators=np.array(annotators), diff_mean=projection.mean, diff_components=projection.components,
             diff_scale=projection.scale, prompt_mean=prompt_projection.mean,
             prompt_components=prompt_projection.components, prompt_scale=prompt_projection.scale)
    metrics = {"k": fit.k, "heldout": {str(k): v for k, v in fit.heldout.items()}, "train_labels": len(train),
               "annotators": len(annotators), "evaluation": evaluation}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _evaluate(fit, x, z, prompt_of_pair, test):
    """Preference accuracy on the test split's labels (known annotators by weight, others by router)."""
    if not len(test.y):
        return {"pairs": 0, "accuracy": None}
    probs = fit.item_probs(x)[test.item]
    routed = fit.route(z[prompt_of_pair[test.item]])
    weights = np.where((test.annotator >= 0)[:, None], fit.weights[np.clip(test.annotator, 0, None)], routed)
    p = (weights * probs).sum(axis=1)
    counts = defaultdict(int)
    for known in test.annotator >= 0:
        counts["known" if known else "unknown"] += 1
    return {"pairs": int(len(test.y)), "accuracy": float(np.mean((p > 0.5) == (test.y > 0))), **counts}
