"""TRL trainers with two additions Tandem's data carries and TRL 1.16 does not read.

- Rationales (Just et al. 2024, "Data-Centric Human Preference Optimization with Rationales",
  reds-lab/preference-learning-with-rationales): loss = DPO + γ · NLL(rationale | prompt, chosen,
  rejected). The conditioning text is the reference code's template for general rationales
  (finetune_data.RATIONALE_TEMPLATE, applied to the rows there); the NLL is the rationale's summed token negative log-likelihood, averaged
  over the batch's rows (a row without a rationale adds 0, so it contributes DPO only). The DPO part
  is TRL's own loss, unchanged. The rationale is tokenised in the collator.
- Per-row weights (`weight` column, e.g. 1 − p_noise): loss = mean_i w_i · ℓ_i over the batch, so a
  row of weight 0 has no gradient and weights of 1 give TRL's loss exactly. The DPO per-row losses
  are written here for the loss types Tandem uses (sigmoid, robust, ipo, bco_pair), with TRL's
  formulas; the reward trainer's is −log σ(r_c − r_r [− margin]).
- Per-row flip rates (`robust` column, 1 or 0): robust DPO's ε (`label_smoothing`) applies to the
  rows marked 1 and not to the rows marked 0, which train with ε = 0 (the sigmoid loss): ε is
  estimated for pairwise rows, and edit-derived pairs have no estimate of their own
  (finetune_data.rows_for marks them; rdpo_epsilon.py).

Limits of the per-row path (weights or `robust`): it adds no mixture-of-experts router aux loss
(TRL adds it when the model config asks for `output_router_logits`), and it logs only rewards
accuracy, margins and mean weight, not TRL's full set of DPO metrics. Unweighted, unmasked batches
go through TRL's own compute_loss unchanged.
"""

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

RATIONALE_KEYS = ("rationale_input_ids", "rationale_attention_mask", "rationale_labels")
EXTRA_COLUMNS = ("weight", "robust", "rationale_prompt", "rationale")


def tokenize_rationale(
    tokenizer, prompt_text: str, rationale: str, max_length: int | None
) -> tuple[list[int], list[int]]:
    """(input ids, labels) of the rationale conditioned on its prompt: the prompt in the chat template's
    user turn when there is one; labels −100 outside the rationale. Too long: the prompt loses its start."""
    if tokenizer.chat_template:
        prompt_ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt_text}], tokenize=True, add_generation_prompt=True, return_dict=True
        )["input_ids"]
    else:
        prompt_ids = tokenizer(prompt_text)["input_ids"]
    target = tokenizer(rationale, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids, labels = prompt_ids + target, [-100] * len(prompt_ids) + target
    if max_length and len(ids) > max_length:
        ids, labels = ids[-max_length:], labels[-max_length:]
    return ids, labels


@dataclass
class ExtraCollator:
    """Wraps TRL's collator: takes `weight`, `robust` and the rationale columns off each example,
    collates the rest as TRL does, and adds `weight` and `robust` (float, one per row) and the
    tokenised rationale batch."""

    base: Any
    tokenizer: Any = None
    max_length: int | None = None

    def __call__(self, examples):
        extras = [{k: ex[k] for k in EXTRA_COLUMNS if k in ex} for ex in examples]
        batch = self.base([{k: v for k, v in ex.items() if k not in EXTRA_COLUMNS} for ex in examples])
        for column in ("weight", "robust"):
            if column in extras[0]:
                batch[column] = torch.tensor([float(e[column]) for e in extras], dtype=torch.float32)
        if "rationale" in extras[0] and self.tokenizer is not None:
            seqs = [
                tokenize_rationale(self.tokenizer, e["rationale_prompt"], e["rationale"], self.max_length)
                if e["rationale"]
                else ([self.tokenizer.pad_token_id], [-100])
                for e in extras
            ]
            width = max(len(ids) for ids, _ in seqs)
            pad = self.tokenizer.pad_token_id
            batch["rationale_input_ids"] = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in seqs])
            batch["rationale_attention_mask"] = torch.tensor(
                [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in seqs]
            )
            batch["rationale_labels"] = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in seqs])
        return batch


def rationale_nll(model, input_ids, attention_mask, labels) -> torch.Tensor:
    """Per-row summed NLL of the labelled tokens (0 for a row without any)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1].float()
    targets = labels[:, 1:]
    mask = targets != -100
    logps = torch.gather(logits.log_softmax(-1), 2, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(logps * mask).sum(dim=1)


def dpo_per_row_loss(
    loss_type: str,
    beta: float,
    label_smoothing: "float | torch.Tensor",
    chosen_logratios,
    rejected_logratios,
    chosen_lengths=None,
    rejected_lengths=None,
) -> torch.Tensor:
    """TRL 1.16's per-sequence DPO losses (reverse KL) for the loss types Tandem's methods use.
    label_smoothing: one ε, or one per row (robust only)."""
    delta = chosen_logratios - rejected_logratios
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * delta)
    if loss_type == "robust":
        eps = label_smoothing
        return (-(1 - eps) * F.logsigmoid(beta * delta) + eps * F.logsigmoid(-beta * delta)) / (1 - 2 * eps)
    if loss_type == "ipo":
        ipo = chosen_logratios / chosen_lengths.clamp(min=1.0) - rejected_logratios / rejected_lengths.clamp(min=1.0)
        return (ipo - 1 / (2 * beta)) ** 2
    if loss_type == "bco_pair":
        return -F.logsigmoid(beta * chosen_logratios) - F.logsigmoid(-beta * rejected_logratios)
    raise ValueError(f"per-row weights are not implemented for loss_type {loss_type}")


class TandemDPOTrainer(DPOTrainer):
    """DPOTrainer + optional per-row weights + optional per-row ε (`robust`) + optional rationale NLL
    (rationale_gamma > 0)."""

    args: DPOConfig

    def __init__(self, *args, rationale_gamma: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.rationale_gamma = rationale_gamma
        self.data_collator = ExtraCollator(self.data_collator, self.processing_class, self.args.max_length)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        columns = [*(self._signature_columns or []), *EXTRA_COLUMNS]
        self._signature_columns = list(dict.fromkeys(columns))  # type: ignore[assignment]  # typed None in Trainer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight", None)
        robust = inputs.pop("robust", None)
        rationale = {k: inputs.pop(k) for k in RATIONALE_KEYS if k in inputs}
        if weight is None and robust is None:
            loss = super().compute_loss(model, inputs, return_outputs=False, num_items_in_batch=num_items_in_batch)
        else:
            device = self.accelerator.device
            rows = inputs["input_ids"].size(0) // 2
            weight = weight.to(device) if weight is not None else torch.ones(rows, device=device)
            epsilon = self.label_smoothing * robust.to(device) if robust is not None else self.label_smoothing
            loss = self.weighted_loss(model, inputs, weight, epsilon)
        if rationale and self.rationale_gamma:
            nll = rationale_nll(
                model,
                rationale["rationale_input_ids"],
                rationale["rationale_attention_mask"],
                rationale["rationale_labels"],
            )
            self._metrics["train" if model.training else "eval"]["rationale_nll"].append(nll.detach().mean().item())
            loss = loss + self.rationale_gamma * nll.mean()
        return loss

    def weighted_loss(self, model, inputs, weight, epsilon):
        mode = "train" if model.training else "eval"
        completion_mask = inputs["completion_mask"]
        model_kwargs = {
            k: v for k, v in inputs.items() if k not in {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
        }
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, use_cache=False, labels=labels, fused_lm_head=True)
        shift_mask = completion_mask[..., 1:]
        logps = outputs.log_probs[:, -shift_mask.size(1) :].sum(dim=1)
        chosen_logps, rejected_logps = logps.chunk(2, dim=0)
        if "ref_chosen_logps" in inputs:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(
                self.ref_model if self.ref_model is not None else model, inputs
            )
        chosen_lr, rejected_lr = chosen_logps - ref_chosen, rejected_logps - ref_rejected
        lengths = completion_mask.sum(dim=1).float()
        chosen_len, rejected_len = lengths.chunk(2, dim=0)
        loss = 0.0
        for loss_type, loss_weight in zip(self.loss_types, self.loss_weights, strict=True):
            rows = dpo_per_row_loss(loss_type, self.beta, epsilon, chosen_lr, rejected_lr, chosen_len, rejected_len)
            loss = loss + (weight * rows).mean() * loss_weight
        with torch.no_grad():
            margins = self.beta * (chosen_lr - rejected_lr)
            self._metrics[mode]["rewards/accuracies"].append((margins > 0).float().mean().item())
            self._metrics[mode]["rewards/margins"].append(margins.mean().item())
            self._metrics[mode]["weight/mean"].append(weight.mean().item())
        return loss


class WeightedRewardTrainer(RewardTrainer):
    """RewardTrainer whose Bradley–Terry loss weights each pair by its `weight` column."""

    args: RewardConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_collator = ExtraCollator(self.data_collator)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        columns = [*(self._signature_columns or []), "weight"]
        self._signature_columns = list(dict.fromkeys(columns))  # type: ignore[assignment]  # typed None in Trainer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight", None)
        if weight is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if model.training else "eval"
        inputs["use_cache"] = False
        margin = inputs.pop("margin", None)
        outputs = model(**inputs)
        chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        diff = chosen - rejected - (margin if margin is not None else 0)
        loss = (weight.to(diff.device) * -F.logsigmoid(diff)).mean()
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((chosen + rejected) ** 2)
        with torch.no_grad():
            self._metrics[mode]["accuracy"].append((chosen > rejected).float().mean().item())
            self._metrics[mode]["margin"].append((chosen - rejected).mean().item())
        return (loss, outputs) if return_outputs else loss
