"""Preference accuracy on held-out pairs: how often the trained model ranks chosen above rejected.

- policy models (DPO family, KTO): the implicit reward β·(log π(y|x) − log π_ref(y|x)); a pair is
  right when the chosen reward exceeds the rejected one (TRL's `rewards/accuracies`);
- reward models: the scalar score of chosen vs rejected.
Prompt and completion are tokenised apart and concatenated, as TRL's trainers do for text rows.
"""
def _sequence_logps(model, tokenizer, prompt, completions, max_length):
    import torch

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    out = []
    for completion in completions:
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion_ids)[:max_length]
        start = min(len(prompt_ids), len(ids) - 1)
        input_ids = torch.tensor([ids], device=model.device)
        with torch.no_grad():
            logits = model(input_ids=input_ids).logits.float()
        logps = torch.log_softmax(logits[0, :-1], dim=-1).gather(1, input_ids[0, 1:, None])[:, 0]
        out.append(logps[max(start - 1, 0):].sum().item())
    return out


def implicit_reward_accuracy(policy, reference, tokenizer, pairs, beta, max_length=512):
    """`reference=None` when the policy is a peft model: its adapters switched off are the reference."""
    if not pairs:
        return {"accuracy": None, "pairs": 0, "mean_margin": None}
    policy.eval()
    margins = []
    for pair in pairs:
        args = (tokenizer, pair["prompt"], [pair["chosen"], pair["rejected"]], max_length)
        pc, pr = _sequence_logps(policy, *args)
        if reference is None:
            with policy.disable_adapter():
                rc, rr = _sequence_logps(policy, *args)
        else:
            rc, rr = _sequence_logps(reference, *args)
        margins.append(beta * ((pc - rc) - (pr - rr)))
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
            text = pair["prompt"] + completion + tokenizer.eos_token  # as RewardTrainer tokenises text rows
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
