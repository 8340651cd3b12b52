"""What a fine-tune config may set: an allow-list of training fields with caps.

A run's `config` and `lora` use TRL's and peft's own field names, but only the training fields
below are accepted. Everything else a TRL config has (push_to_hub, hub_model_id, hub_token,
output_dir, torch_compile, dataloader_num_workers, report_to, deepspeed, …) reaches the worker's
machine, its network or its disk, so it is refused with an error naming the field, before
anything is queued. A field must also exist on the method's TRL config class (beta is not a
RewardConfig field); finetune.trl_config checks that.

`rationale_gamma` (γ of dpo_rationale's rationale NLL) is Tandem's own too. `max_prompt_length` is Tandem's own: TRL 1.16's DPOTrainer no longer has it, so Tandem cuts
long prompts itself, keeping their end (workers/finetune_data.py).
"""

from dataclasses import dataclass
from typing import Any

from annotate.errors import Invalid
from workers.models import FineTuneMethod


class ConfigError(Invalid, ValueError):
    """A fine-tune configuration refused: the message names the field and why."""


@dataclass(frozen=True)
class Allowed:
    kind: type  # int, float, bool or str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    methods: tuple = ()  # empty: every method
    low_open: bool = False  # low itself is not allowed

    def check(self, name, value):
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
            return value
        if self.kind is str:
            if value not in self.choices:
                raise ConfigError(f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
            return value
        numeric = (int,) if self.kind is int else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, numeric)
            or value != value
            or value in (float("inf"), float("-inf"))
        ):
            raise ConfigError(f"{name} must be {'an integer' if self.kind is int else 'a number'}, got {value!r}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ConfigError(f"{name} must be {'above' if self.low_open else 'at least'} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{name} must be at most {self.high}, got {value!r}")
        return self.kind(value)


PAIR = (FineTuneMethod.DPO, FineTuneMethod.DPO_RATIONALE, FineTuneMethod.RDPO, FineTuneMethod.IPO, FineTuneMethod.BCO)
POLICY = PAIR + (FineTuneMethod.KTO,)

TRAINING = {
    "num_train_epochs": Allowed(float, 0, 100, low_open=True),
    "max_steps": Allowed(int, -1, 1_000_000),
    "learning_rate": Allowed(float, 0, 1, low_open=True),
    "per_device_train_batch_size": Allowed(int, 1, 1024),
    "per_device_eval_batch_size": Allowed(int, 1, 1024),
    "gradient_accumulation_steps": Allowed(int, 1, 1024),
    "gradient_checkpointing": Allowed(bool),
    "max_length": Allowed(int, 16, None),  # capped by the model's max_length in trl_config
    "max_prompt_length": Allowed(int, 8, None),
    "warmup_steps": Allowed(float, 0, 1_000_000),  # TRL ≥ 1 reads a fraction below 1 as a ratio
    "weight_decay": Allowed(float, 0, 1),
    "max_grad_norm": Allowed(float, 0, 1000),
    "lr_scheduler_type": Allowed(str, choices=("linear", "cosine", "constant", "constant_with_warmup", "inverse_sqrt")),
    "optim": Allowed(str, choices=("adamw_torch", "adamw_torch_fused", "adafactor", "sgd")),
    "seed": Allowed(int, 0, 2**31 - 1),
    "logging_steps": Allowed(float, 0, 1_000_000, low_open=True),
    "eval_strategy": Allowed(str, choices=("no", "steps", "epoch")),
    "eval_steps": Allowed(float, 0, 1_000_000, low_open=True),
    "beta": Allowed(float, 0, 100, low_open=True, methods=POLICY),
    "label_smoothing": Allowed(float, 0, 0.49, methods=PAIR),
    "desirable_weight": Allowed(float, 0, 100, low_open=True, methods=(FineTuneMethod.KTO,)),
    "undesirable_weight": Allowed(float, 0, 100, low_open=True, methods=(FineTuneMethod.KTO,)),
    "rationale_gamma": Allowed(
        float, 0, 100, methods=(FineTuneMethod.DPO_RATIONALE,)
    ),  # Tandem's: γ of the rationale NLL
    "center_rewards_coefficient": Allowed(float, 0, 100, methods=(FineTuneMethod.REWARD,)),
    # Tandem's own (workers/reward_loss.py), not TRL's: plain, Scaled (HelpSteer2-Preference) or margin BT.
    "bt_loss": Allowed(str, choices=("bt", "scaled", "margin"), methods=(FineTuneMethod.REWARD,)),
}
# reward_mixture (workers/reward_mixture.py) is not a TRL trainer: its own allow-list. `heads`
# chooses embedding heads (CPU) or K LoRA reward-model heads on the run's model (GPU workers).
MIXTURE = {
    "k_max": Allowed(int, 1, 8),
    "heads": Allowed(str, choices=("embedding", "lora")),
    "num_train_epochs": Allowed(float, 0, 100, low_open=True),
    "learning_rate": Allowed(float, 0, 1, low_open=True),
    "per_device_train_batch_size": Allowed(int, 1, 1024),
    "max_length": Allowed(int, 16, 32768),
    "seed": Allowed(int, 0, 2**31 - 1),
}
# Set by Tandem from the method and the run; never from the form.
RESERVED = {"loss_type": "the loss follows the method", "output_dir": "the output directory is the run's"}

LORA = {
    "r": Allowed(int, 1, 512),
    "lora_alpha": Allowed(float, 0, 4096, low_open=True),
    "lora_dropout": Allowed(float, 0, 0.9),
    "bias": Allowed(str, choices=("none", "all", "lora_only")),
    "use_rslora": Allowed(bool),
}
MAX_TARGET_MODULES = 64


def check_training(config: dict[str, Any] | None, method: str, model_max_length: int | None = None) -> dict[str, Any]:
    """The config's fields checked against the allow-list and their caps; raises ConfigError naming the field."""
    out = {}
    for name, value in (config or {}).items():
        if name in RESERVED:
            raise ConfigError(f"{name} cannot be set here: {RESERVED[name]}")
        allowed = TRAINING.get(name)
        if allowed is None:
            raise ConfigError(f"{name} is not a training field Tandem accepts; allowed: {', '.join(sorted(TRAINING))}")
        if allowed.methods and method not in allowed.methods:
            raise ConfigError(f"{name} does not apply to {method}")
        out[name] = allowed.check(name, value)
    if model_max_length and out.get("max_length", 0) > model_max_length:
        raise ConfigError(
            f"max_length must be at most the model's max_length {model_max_length}, got {out['max_length']}"
        )
    if "max_prompt_length" in out and out["max_prompt_length"] >= out.get(
        "max_length", model_max_length or float("inf")
    ):
        raise ConfigError("max_prompt_length must be below max_length, so the completions keep some tokens")
    return out


def check_lora(lora: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for name, value in (lora or {}).items():
        if name == "target_modules":
            ok = value == "all-linear" or (
                isinstance(value, list)
                and 0 < len(value) <= MAX_TARGET_MODULES
                and all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)
            )
            if not ok:
                raise ConfigError(
                    f'target_modules must be "all-linear" or a list of up to {MAX_TARGET_MODULES} module names'
                )
            out[name] = value
            continue
        allowed = LORA.get(name)
        if allowed is None:
            raise ConfigError(
                f"LoRA field {name} is not accepted; allowed: {', '.join(sorted([*LORA, 'target_modules']))}"
            )
        out[name] = allowed.check(name, value)
    return out
