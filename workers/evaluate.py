"""Preference accuracy on held-out pairs: how often the trained model ranks chosen above rejected.

- policy models (DPO family, KTO): the implicit reward β·(log π(y|x) − log π_ref(y|x)); a pair is
  right when the chosen reward exceeds the rejected one (TRL's `rewards/accuracies`);
- reward models: the scalar score of chosen vs rejected.
Prompt and completion are tokenised apart and concatenated, as TRL's trainers do for text rows;
conversational pairs are rendered with the tokenizer's chat template first.
"""


def as_text(tokenizer, prompt, completion):
    """(prompt text, completion text) for a text or conversational pair side."""
    if isinstance(prompt, str):
        return prompt, completion
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    if full.startswith(prompt_text):
        return prompt_text, full[len(prompt_text):]
    return prompt_text, completion[-1]["content"]
def _sequence_logps(model, tokenizer, pairs, max_length, batch_size=16):
    """log π(y|x) summed over completion tokens, for every (prompt, completion) in `pairs`, batched."""
    import torch

    seqs = []
    for prompt, completion in pairs:
        conversational = not isinstance(prompt, str)
        prompt, completion = as_text(tokenizer, prompt, completion)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if not conversational:  # the template already ends the turn
            completion_ids = completion_ids + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion_ids)[:max_length]
        seqs.append((ids, min(len(prompt_ids), len(ids) - 1)))
    out = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(seqs), batch_size):
        chunk = seqs[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        scored = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
        for row, (ids, prompt_len) in enumerate(chunk):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
            scored[row, max(prompt_len - 1, 0):len(ids) - 1] = True  # positions predicting completion tokens
        input_ids, attention, scored = input_ids.to(model.device), attention.to(model.device), scored.to(model.device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, input_ids[:, 1:, None])[..., 0]
        out.extend((logps * scored).sum(dim=1).tolist())
    return out


def implicit_reward_accuracy(policy, reference, tokenizer, pairs, beta, max_length=512):
    """`reference=None` when the policy is a peft model: its adapters switched off are the reference."""
    if not pairs:
        return {"accuracy": None, "pairs": 0, "mean_margin": None}
    policy.eval()
    seqs = [(p["prompt"], p[side]) for p in pairs for side in ("chosen", "rejected")]
    pol = _sequence_logps(policy, tokenizer, seqs, max_length)
    if reference is None:
        with policy.disable_adapter():
            ref = _sequence_logps(policy, tokenizer, seqs, max_length)
    else:
        ref = _sequence_logps(reference, tokenizer, seqs, max_length)
    margins = [beta * ((pol[2 * i] - ref[2 * i]) - (pol[2 * i + 1] - ref[2 * i + 1])) for i in range(len(pairs))]
    return _summary(margins)


def reward_model_accuracy(model, tokenizer, pairs, max_length=512):
    import torch

    if not pairs:
        return {"accuracy": None, "pairs": 0, "mean_margin": None}
    model.eval()
    margins = []
    for pair in pairs:
        scores = []
        for completion in (pair["chosen"], pair["rejected"]):
            if isinstance(pair["prompt"], str):
                text = pair["prompt"] + completion + tokenizer.eos_token  # as RewardTrainer tokenises text rows
            else:
                text = tokenizer.apply_chat_template(pair["prompt"] + completion, tokenize=False)
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).to(model.device)
            with torch.no_grad():
                scores.append(model(**enc).logits[0, 0].float().item())
        margins.append(scores[0] - scores[1])
    return _summary(margins)


def _summary(margins):
    return {
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "pairs": len(margins),
        "mean_margin": sum(margins) / len(margins),
    }
