"""Bradley–Terry variants for the reward trainer, chosen by the run's `bt_loss` (a Tandem key of
`FineTuneRun.config`, not a TRL field):

- "bt" (default): TRL's RewardTrainer, −log σ(r_c − r_r);
- "scaled": Scaled BT of HelpSteer2-Preference (Wang et al. 2024), −m · log σ(r_c − r_r), each
  pair's loss multiplied by its preference magnitude m (the export's `margin`: |preference| for
  pairwise rows, 1..3 for HelpSteer2's strengths; the normalised edit distance for edit pairs);
- "margin": BT with margin (Llama 2), −log σ(r_c − r_r − m), TRL's own handling of a `margin` column.
"""

import torch
from torch import nn
from trl import RewardConfig, RewardTrainer

BT_LOSSES = ("bt", "scaled", "margin")


def needs_margin(bt_loss: str) -> bool:
    return bt_loss in ("scaled", "margin")


class ScaledBTRewardTrainer(RewardTrainer):
    """RewardTrainer with the per-pair loss scaled by the pair's preference magnitude."""

    args: RewardConfig

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        scale = inputs.pop("margin")  # TRL would subtract it; Scaled BT multiplies by it
        _, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = -(scale.to(chosen.dtype) * nn.functional.logsigmoid(chosen - rejected)).mean()
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((chosen + rejected) ** 2)
        return (loss, outputs) if return_outputs else loss
