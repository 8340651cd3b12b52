"""The `reward_mixture` fine-tune kind: a mixture reward model trained from a snapshot's individual
labels (the `labels` export), embedding heads on CPU.

The snapshot's people's labels (ties dropped) become pairs (prompt ⊕ chosen, prompt ⊕ rejected)
per pseudonymous annotator; curation.mixture fits K Bradley–Terry heads over the MiniLM
differences with K by held-out likelihood, each annotator's weights, and the prompt router. The
reward of a response for group k is w_k · P(e(prompt ⊕ response)) (P the stored projection; a
difference of two rewards is the head's logit). Artifacts: mixture.npz (heads, projections,
router, annotator pseudonyms and weights) and metrics.json. Evaluation on the test split: a label
of a known annotator is predicted with their weights, an unknown one's with the router's.

`heads: "lora"` (for GPU workers; it runs on CPU with tiny models) trains reward-model heads
instead: one sequence-classification model (the run's model) with num_labels = K and a LoRA adapter
(peft), head k giving r_k(prompt, response). K and each annotator's group weights w_a come from the
embedding fit above and stay fixed; the loss is the mixture likelihood of each person's label,
−log Σ_k w_a,k σ(s · (r_k(chosen) − r_k(rejected))) with s = ±1 the side the label took (a
`labels` row's chosen/rejected are the item's curated sides, so a minority annotator's label has
s = −1; reading every label as "chosen wins" taught every head the majority side) (MiCRo's mixture of BT heads with the annotators'
weights as the mixing proportions; MiCRo learns the router jointly, here the router is the
embedding one). Artifacts: adapter/ (peft adapter, the K-output score layer saved with it, and the
tokenizer), mixture.npz and metrics.json.
"""

import json
from collections import defaultdict
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from curation.formats import iter_export_rows
from curation.mixture import Labels, Projection, choose_and_fit, fit_router
from workers.finetune_config import MIXTURE, check_lora
from workers.ml.embeddings import embed
from workers.ml.loading import device as pick_device

CONFIG_FIELDS = set(MIXTURE)
PERSON_KINDS = ("human", "source")
DEFAULT_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}


def check_config(config: dict[str, Any] | None, lora: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config checked against finetune_config.MIXTURE (and the LoRA fields when heads are LoRA)."""
    unknown = sorted(set(config or {}) - CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"reward_mixture takes only {', '.join(sorted(CONFIG_FIELDS))}; not {', '.join(unknown)}")
    out = {name: MIXTURE[name].check(name, value) for name, value in (config or {}).items()}
    if lora and out.get("heads", "embedding") != "lora":
        raise ValueError("LoRA settings apply only to heads: lora")
    check_lora(lora)
    return out


def _pairs(snapshot, split):
    return [
        r
        for r in iter_export_rows(snapshot, "labels", split=split)
        if r["annotator_kind"] in PERSON_KINDS and r["preference"]
    ]


def _encode(rows, pair_index, prompt_index):
    for r in rows:
        pair_index.setdefault((r["prompt"], r["chosen"], r["rejected"]), len(pair_index))
        prompt_index.setdefault(r["prompt"], len(prompt_index))


def train(ft, out, log=print) -> dict:
    """The fine-tune run's mixture: embedding heads, or LoRA reward-model heads when config asks."""
    if (ft.config or {}).get("heads") == "lora":
        return train_lora_heads(ft.snapshot, ft.model_spec, out, ft.config, ft.lora, log=log)
    return train_mixture(ft.snapshot, out, ft.config, log=log)


def train_mixture(snapshot, out, config=None, log=print, keep=None) -> dict:
    """Fit and save the mixture; returns the run's metrics (`keep` receives the fit and pairs)."""
    check_config(config)
    train, test = _pairs(snapshot, "train"), _pairs(snapshot, "test")
    annotators = sorted({r["annotator"] for r in train})
    if len(train) < 10 or len(annotators) < 2:
        raise ValueError(
            "reward_mixture needs at least 10 decisive people's labels from 2 or more annotators in the train split"
        )
    pair_index: dict[tuple[str, str, str], int] = {}
    prompt_index: dict[str, int] = {}
    _encode(train + test, pair_index, prompt_index)
    pairs = list(pair_index)
    chosen = embed([f"{p}\n\n{c}" for p, c, _ in pairs], max_tokens=128)
    rejected = embed([f"{p}\n\n{r}" for p, _, r in pairs], max_tokens=128)
    prompts = embed(list(prompt_index), max_tokens=128)
    diffs = np.asarray(chosen, dtype=float) - np.asarray(rejected, dtype=float)
    who = {a: i for i, a in enumerate(annotators)}

    def labels(rows):
        return Labels(
            np.array([who.get(r["annotator"], -1) for r in rows], dtype=int),
            np.array([pair_index[(r["prompt"], r["chosen"], r["rejected"])] for r in rows], dtype=int),
            np.array([int(r["preference"] > 0) for r in rows], dtype=int),
        )

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
    np.savez(
        out / "mixture.npz",
        heads=fit.heads,
        pi=fit.pi,
        weights=fit.weights,
        router=fit.router,
        annotators=np.array(annotators),
        diff_mean=projection.mean,
        diff_components=projection.components,
        diff_scale=projection.scale,
        prompt_mean=prompt_projection.mean,
        prompt_components=prompt_projection.components,
        prompt_scale=prompt_projection.scale,
    )
    metrics = {
        "k": fit.k,
        "heldout": {str(k): v for k, v in fit.heldout.items()},
        "train_labels": len(train),
        "annotators": len(annotators),
        "evaluation": evaluation,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if keep is not None:
        keep.update(fit=fit, train=train, test=test, annotators=annotators)
    return metrics


def _evaluate(fit, x, z, prompt_of_pair, test):
    """Preference accuracy on the test split's labels (known annotators by weight, others by router)."""
    if not len(test.y):
        return {"pairs": 0, "accuracy": None}
    probs = fit.item_probs(x)[test.item]
    routed = fit.route(z[prompt_of_pair[test.item]])
    weights = np.where((test.annotator >= 0)[:, None], fit.weights[np.clip(test.annotator, 0, None)], routed)
    p = (weights * probs).sum(axis=1)
    counts: defaultdict[str, int] = defaultdict(int)
    for known in test.annotator >= 0:
        counts["known" if known else "unknown"] += 1
    return {"pairs": int(len(test.y)), "accuracy": float(np.mean((p > 0.5) == (test.y > 0))), **counts}


def _batches(rows, size, rng):
    order = rng.permutation(len(rows))
    for start in range(0, len(order), size):
        yield [rows[i] for i in order[start : start + size]]


def _sides(rows, device):
    """+1 where the label prefers the row's chosen side, −1 where it prefers the rejected one (a
    minority annotator on an item their side lost)."""
    import torch

    return torch.tensor([1.0 if r["preference"] > 0 else -1.0 for r in rows], device=device)


def _rewards(model, tokenizer, texts, max_length, device):
    """K rewards per text: the sequence-classification model's K logits."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length).to(device)
    return model(**enc).logits.float()


def train_lora_heads(snapshot, model_spec, out, config=None, lora=None, log=print) -> dict:
    """K LoRA reward heads (one model, num_labels = K) trained with the mixture likelihood."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    config = check_config(config, lora)
    keep: dict[str, Any] = {}
    embedding_metrics = train_mixture(
        snapshot, out, {k: v for k, v in config.items() if k == "k_max"}, log=log, keep=keep
    )
    fit, train_rows, test_rows = keep["fit"], keep["train"], keep["test"]
    who = {a: i for i, a in enumerate(keep["annotators"])}
    on = pick_device()
    seed = int(config.get("seed", 42))
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_spec.path_or_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        model_spec.path_or_id,
        num_labels=fit.k,
        ignore_mismatched_sizes=True,
        dtype=torch.bfloat16 if on == "cuda" and torch.cuda.is_bf16_supported() else torch.float32,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    lora_values = {**DEFAULT_LORA, **(lora or {})}
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, **lora_values)).to(on)
    weights = torch.tensor(fit.weights, dtype=torch.float32, device=on)
    max_length = int(config.get("max_length", model_spec.max_length or 512))
    epochs = float(config.get("num_train_epochs", 1))
    size = int(config.get("per_device_train_batch_size", 8))
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=float(config.get("learning_rate", 1e-4))
    )
    rng = np.random.default_rng(seed)
    losses, steps = [], 0
    model.train()
    for epoch in range(max(1, int(np.ceil(epochs)))):
        batches = list(_batches(train_rows, size, rng))
        if epoch + 1 > epochs:  # a fractional last epoch
            batches = batches[: max(1, int(len(batches) * (epochs - epoch)))]
        for batch in batches:
            chosen = _rewards(model, tokenizer, [f"{r['prompt']}\n\n{r['chosen']}" for r in batch], max_length, on)
            rejected = _rewards(model, tokenizer, [f"{r['prompt']}\n\n{r['rejected']}" for r in batch], max_length, on)
            w = weights[torch.tensor([who[r["annotator"]] for r in batch], device=on)]
            # The export's chosen/rejected are the item's curated sides; each label's preference says
            # which side this annotator took (positive: chosen). With s = ±1 that direction:
            # −log Σ_k w_k σ(s · (r_k(chosen) − r_k(rejected))).
            margin = _sides(batch, on)[:, None] * (chosen - rejected)
            loss = -torch.logsumexp(torch.log(w.clamp_min(1e-8)) + torch.nn.functional.logsigmoid(margin), dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            steps += 1
    log(f"reward_mixture (LoRA heads): K = {fit.k}, {steps} steps on {on}, loss {losses[0]:.4f} → {losses[-1]:.4f}")
    model.eval()
    evaluation = _evaluate_heads(model, tokenizer, test_rows, fit, who, max_length, on)
    model.save_pretrained(str(out / "adapter"))
    tokenizer.save_pretrained(str(out / "adapter"))
    metrics = {
        **embedding_metrics,
        "heads": "lora",
        "steps": steps,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "losses": losses,
        "embedding_evaluation": embedding_metrics["evaluation"],
        "evaluation": evaluation,
        "device": on,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def score_heads(model, tokenizer, prompt, responses, max_length=512, device="cpu") -> np.ndarray:
    """responses × K rewards of the trained heads (for evaluation and tests)."""
    import torch

    with torch.no_grad():
        return _rewards(model, tokenizer, [f"{prompt}\n\n{r}" for r in responses], max_length, device).cpu().numpy()


def _evaluate_heads(model, tokenizer, rows, fit, who, max_length, device):
    """Test-split accuracy of the LoRA heads: known annotators mixed by their weights (the router
    for others is the embedding one and needs the prompt embedding; those labels are left out here)."""
    import torch

    known = [r for r in rows if r["annotator"] in who]
    if not known:
        return {"pairs": 0, "accuracy": None, "unknown_left_out": len(rows)}
    correct = 0
    with torch.no_grad():
        for start in range(0, len(known), 16):
            batch = known[start : start + 16]
            c = _rewards(model, tokenizer, [f"{r['prompt']}\n\n{r['chosen']}" for r in batch], max_length, device)
            j = _rewards(model, tokenizer, [f"{r['prompt']}\n\n{r['rejected']}" for r in batch], max_length, device)
            w = torch.tensor(fit.weights[[who[r["annotator"]] for r in batch]], dtype=torch.float32, device=device)
            p = (w * torch.sigmoid(_sides(batch, device)[:, None] * (c - j))).sum(dim=1)
            correct += int((p > 0.5).sum())  # P(the annotator's own side) > ½
    return {"pairs": len(known), "accuracy": correct / len(known), "unknown_left_out": len(rows) - len(known)}
