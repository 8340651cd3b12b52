"""Preference accuracy on held-out pairs: how often the trained model ranks chosen above rejected.

- policy models (DPO family, KTO): the implicit reward β·(log π(y|x) − log π_ref(y|x)); a pair is
  right when the chosen reward exceeds the rejected one (TRL's `rewards/accuracies`);
- reward models: the scalar score of chosen vs rejected.
Prompt and completion are tokenised apart and concatenated, as TRL's trainers do for text rows;
conversational pairs are rendered with the tokenizer's chat template first.

A pair one of whose completions is cut to nothing by max_length has a margin of exactly 0 that
says nothing about the model; it is left out of `accuracy` and counted in `pairs_excluded`
(`accuracy_all_pairs` counts it as a miss, the figure before). The pairs come fitted the way the
training rows are (finetune_data.Fitter: long prompts keep their end), so few should be left out.
"""

from typing import Any


def as_text(tokenizer, prompt, completion):
    """(prompt text, completion text) for a text or conversational pair side."""
    if isinstance(prompt, str):
        return prompt, completion
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    if full.startswith(prompt_text):
        return prompt_text, full[len(prompt_text) :]
    return prompt_text, completion[-1]["content"]


def _sequence_logps(model, tokenizer, pairs, max_length, batch_size=16):
    """(log π(y|x) summed over completion tokens, completion tokens left after max_length) for every
    (prompt, completion) in `pairs`, batched."""
    import torch

    seqs, survived = [], []
    for prompt, completion in pairs:
        conversational = not isinstance(prompt, str)
        prompt, completion = as_text(tokenizer, prompt, completion)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if not conversational:  # the template already ends the turn
            completion_ids = completion_ids + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion_ids)[:max_length]
        seqs.append((ids, min(len(prompt_ids), len(ids) - 1)))
        survived.append(max(len(ids) - len(prompt_ids), 0))
    out = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(seqs), batch_size):
        chunk = seqs[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        scored = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
        for row, (ids, prompt_len) in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            scored[row, max(prompt_len - 1, 0) : len(ids) - 1] = True  # positions predicting completion tokens
        input_ids, attention, scored = input_ids.to(model.device), attention.to(model.device), scored.to(model.device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, input_ids[:, 1:, None])[..., 0]
        out.extend((logps * scored).sum(dim=1).tolist())
    return list(zip(out, survived))


def implicit_reward_accuracy(
    policy: Any, reference: Any, tokenizer: Any, pairs: list[dict[str, Any]], beta: float, max_length: int = 512
) -> dict[str, Any]:
    """`reference=None` when the policy is a peft model: its adapters switched off are the reference."""
    if not pairs:
        return _summary([], [])
    policy.eval()
    seqs = [(p["prompt"], p[side]) for p in pairs for side in ("chosen", "rejected")]
    pol = _sequence_logps(policy, tokenizer, seqs, max_length)
    if reference is None:
        with policy.disable_adapter():
            ref = _sequence_logps(policy, tokenizer, seqs, max_length)
    else:
        ref = _sequence_logps(reference, tokenizer, seqs, max_length)
    margins = [
        beta * ((pol[2 * i][0] - ref[2 * i][0]) - (pol[2 * i + 1][0] - ref[2 * i + 1][0])) for i in range(len(pairs))
    ]
    scored = [pol[2 * i][1] > 0 and pol[2 * i + 1][1] > 0 for i in range(len(pairs))]
    return _summary(margins, scored)


def reward_model_accuracy(
    model: Any, tokenizer: Any, pairs: list[dict[str, Any]], max_length: int = 512
) -> dict[str, Any]:
    import torch

    if not pairs:
        return _summary([], [])
    model.eval()
    margins, scored = [], []
    for pair in pairs:
        scores, whole = [], True
        for completion in (pair["chosen"], pair["rejected"]):
            if isinstance(pair["prompt"], str):
                text = pair["prompt"] + completion + tokenizer.eos_token  # as RewardTrainer tokenises text rows
            else:
                text = tokenizer.apply_chat_template(pair["prompt"] + completion, tokenize=False)
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).to(model.device)
            whole = whole and enc["input_ids"].shape[1] < max_length  # RewardTrainer drops longer rows
            with torch.no_grad():
                scores.append(model(**enc).logits[0, 0].float().item())
        margins.append(scores[0] - scores[1])
        scored.append(whole)
    return _summary(margins, scored)


def _summary(margins, scored):
    """Accuracy over the pairs whose completions survived max_length, and over every pair."""
    kept = [m for m, ok in zip(margins, scored) if ok]
    return {
        "accuracy": sum(m > 0 for m in kept) / len(kept) if kept else None,
        "pairs": len(kept),
        "mean_margin": sum(kept) / len(kept) if kept else None,
        "pairs_total": len(margins),
        "pairs_excluded": len(margins) - len(kept),
        "accuracy_all_pairs": sum(m > 0 for m in margins) / len(margins) if margins else None,
    }
