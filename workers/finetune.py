"""Fine-tune runs with TRL on a snapshot: dpo / rdpo / ipo / bco (DPOTrainer), kto (KTOTrainer),
reward (RewardTrainer); LoRA through peft's LoraConfig. dpo_rationale, per-row noise weights
(noise_weighting=weight) and rdpo over mixed kinds (ε on the pairwise rows only) use Tandem's
subclasses (workers/pref_trainers.py). `bco` is TRL's paired
loss_type bco_pair, not Jung et al.'s BCO on unpaired binary feedback. KTO's desirable/undesirable
weights are set from the class counts when the config sets neither (kto_class_weights). reward_mixture
(workers/reward_mixture.py) fits heads per preference group instead of a TRL trainer.

`FineTuneRun.config` holds TRL config fields by name, from an allow-list of training fields with
caps (workers/finetune_config.py; anything else is an error before anything is queued), and is
passed to the TRL config class. Tandem adds only: output_dir, loss_type
from the method, label_smoothing = ε of the kept pairwise rows for rdpo (unless set; rdpo_epsilon.py), report_to=none,
save_strategy=no (artifacts are written once, at the end), logging_steps=1 unless set, and
truncation_mode=keep_start (TRL 1.16's supported mode; rows are fitted first so that long
conversations keep their end, finetune_data.Fitter).

Artifacts under ARTIFACTS_DIR/<run id>/: model/ (adapter or full model + tokenizer),
trainer_state.json, metrics.json. A retried or taken-over run starts again from an empty directory,
so it never leaves two sets of artifacts.
"""

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db import transaction

from annotate.errors import Conflict
from annotate.projects import lock_project
from curation.models import Snapshot
from workers import evaluate, finetune_data, rdpo_epsilon, reward_mixture, runs
from workers.finetune_config import ConfigError, check_lora, check_training
from workers.ml.loading import device, load_tokenizer, release, torch_dtype
from workers.models import FineTuneMethod, FineTuneRun, ModelSpec, NoiseWeighting, RunKind, TaskRun

if TYPE_CHECKING:
    from transformers import Trainer

DEFAULTS = {
    "beta": 0.1,
    "learning_rate": 5e-6,
    "num_train_epochs": 1,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_length": 1024,
}
LOSS_TYPE: dict[str, str] = {
    FineTuneMethod.DPO: "sigmoid",
    FineTuneMethod.DPO_RATIONALE: "sigmoid",
    FineTuneMethod.RDPO: "robust",
    FineTuneMethod.IPO: "ipo",
    FineTuneMethod.BCO: "bco_pair",
}
LORA_DEFAULTS = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": "all-linear",
    "task_type": "CAUSAL_LM",
}


TANDEM_KEYS = {"bt_loss"}  # config keys Tandem reads itself (workers/reward_loss.py), not passed to TRL


def bt_loss_of(ft: FineTuneRun) -> str:
    return (ft.config or {}).get("bt_loss", "bt")  # checked by finetune_config's allow-list


def config_class(method: str) -> type:
    from trl import DPOConfig, KTOConfig, RewardConfig

    classes: dict[str, type] = {FineTuneMethod.KTO: KTOConfig, FineTuneMethod.REWARD: RewardConfig}
    return classes.get(method, DPOConfig)


def trl_config(ft: FineTuneRun, output_dir: str | Path) -> Any:
    """The TRL config object for a run (the one-to-one mapping, plus Tandem's few fixed fields)."""
    import dataclasses

    cls = config_class(ft.method)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {k: v for k, v in DEFAULTS.items() if k in fields}
    if "max_length" in values:
        values["max_length"] = min(values["max_length"], ft.model_spec.max_length)
    values.update(check_training(ft.config, ft.method, ft.model_spec.max_length))
    values.pop("max_prompt_length", None)  # Tandem's, applied to the data (finetune_data.Fitter)
    for key in TANDEM_KEYS:
        values.pop(key, None)
    values.pop("rationale_gamma", None)  # Tandem's, read by pref_trainers.TandemDPOTrainer
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    if ft.method in LOSS_TYPE:
        values["loss_type"] = LOSS_TYPE[ft.method]
    if ft.method == FineTuneMethod.RDPO and "label_smoothing" not in (ft.config or {}):
        if ft.snapshot.epsilon is None:
            why = (ft.snapshot.noise_summary or {}).get("withheld") or "run noise estimation, then freeze a snapshot"
            raise ConfigError(
                f"rdpo needs the snapshot's flip rate ε, and this snapshot has none ({why}); "
                "set label_smoothing explicitly only if you know the flip rate from elsewhere"
            )
        values["label_smoothing"] = min(max(float(ft.snapshot.epsilon), 0.0), 0.49)
    if "truncation_mode" in fields:  # TRL 1.16's only supported mode; long prompts were cut to their end before
        values["truncation_mode"] = "keep_start"
    values.setdefault("logging_steps", 1)
    values.setdefault("seed", ft.seed)
    values.setdefault("bf16", _mixed_precision(ft.model_spec))  # TRL defaults to bf16, which a CPU lacks
    values.setdefault("dataloader_pin_memory", _on_cuda())  # pinning only helps host→GPU copies
    values.update(output_dir=str(output_dir), report_to="none", save_strategy="no", disable_tqdm=True)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def _on_cuda():
    return device() == "cuda"


def _mixed_precision(spec):
    import torch

    return device() == "cuda" and torch_dtype(spec.dtype, "cuda") == torch.bfloat16


def lora_config(ft: FineTuneRun) -> Any:
    if not ft.lora:
        return None
    from peft import LoraConfig

    values = {**LORA_DEFAULTS, **check_lora(ft.lora)}
    if ft.method == FineTuneMethod.REWARD:
        values["task_type"] = "SEQ_CLS"
    try:
        return LoraConfig(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LoraConfig: {exc}") from exc


def create_finetune(
    snapshot: Snapshot,
    model_spec: ModelSpec,
    method: str,
    config: dict[str, Any] | None = None,
    lora: dict[str, Any] | None = None,
    noise_weighting: str = NoiseWeighting.NONE,
    noise_threshold: float = 0.5,
    seed: int = 42,
    user: User | None = None,
    request_key: str | None = None,
) -> FineTuneRun:
    """Validate and record a fine-tune run (queued; the caller enqueues tasks.finetune.finetune).
    request_key: the client's idempotency key (create_finetune_once), kept in the run's params."""
    if method not in FineTuneMethod.values:
        raise ConfigError(f"unknown method {method!r}; one of {', '.join(FineTuneMethod.values)}")
    if noise_weighting == NoiseWeighting.WEIGHT and method == FineTuneMethod.KTO:
        raise ConfigError(
            "per-row weights are implemented for the pair methods and the reward model, not kto; use drop or sample"
        )
    if model_spec.project_id not in (None, snapshot.project_id):
        raise ConfigError(f"model {model_spec.name} belongs to another project")
    with transaction.atomic():
        run = runs.create_run(
            RunKind.FINETUNE,
            project=snapshot.project,
            user=user,
            params={"snapshot_id": snapshot.pk, "method": method, "model": model_spec.name}
            | ({"request_key": request_key} if request_key else {}),
        )
        ft = FineTuneRun(
            run=run,
            snapshot=snapshot,
            model_spec=model_spec,
            method=method,
            config=config or {},
            lora=lora or None,
            noise_weighting=noise_weighting,
            noise_threshold=noise_threshold,
            seed=seed,
        )
        ft.output_dir = str(runs.run_dir(run))
        if method == FineTuneMethod.REWARD_MIXTURE:  # embedding heads, not a TRL trainer
            try:
                reward_mixture.check_config(ft.config, ft.lora)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        else:
            trl_config(ft, ft.output_dir)  # raises ConfigError on a bad field: nothing is saved
            lora_config(ft)
        ft.save()
    return ft


REQUEST_FIELDS = ("snapshot", "model_spec", "method", "config", "lora", "noise_weighting", "noise_threshold", "seed")


def create_finetune_once(request_key: str, **request: Any) -> tuple[FineTuneRun, bool]:
    """create_finetune, idempotent by the client's key within the snapshot's project: (run, created).
    The same key again returns the run it created (a client retrying after a lost answer starts no
    second training); the same key with another request is a Conflict. The project lock makes two
    concurrent requests with one key create one run."""
    snapshot: Snapshot = request["snapshot"]
    with transaction.atomic():
        lock_project(snapshot.project)
        earlier = (
            FineTuneRun.objects.select_related("run", "snapshot", "model_spec", "result_spec")
            .filter(run__project=snapshot.project, run__params__request_key=request_key)
            .first()
        )
        if earlier is None:
            return create_finetune(request_key=request_key, **request), True
    wanted = {"noise_weighting": NoiseWeighting.NONE, "noise_threshold": 0.5, "seed": 42} | {
        k: v for k, v in request.items() if k in REQUEST_FIELDS
    }
    wanted["config"], wanted["lora"] = wanted.get("config") or {}, wanted.get("lora") or None  # as stored
    differs = [k for k in REQUEST_FIELDS if getattr(earlier, k) != wanted[k]]
    if differs:
        raise Conflict(
            f"idempotency key {request_key!r} was used for fine-tune run {earlier.run_id} with another "
            f"{', '.join(differs)}; use a new key for a new run"
        )
    return earlier, False


# Database writes from the training loop are throttled: a tiny model takes a few ms a step, and a
# progress write plus a cancel check per step would cost more than the step (bench/finetune.py).
PROGRESS_INTERVAL = float(os.environ.get("TANDEM_PROGRESS_INTERVAL", "1.0"))
# The run row keeps a chart-sized loss history (the full log is in trainer_state.json): a few keys
# per entry, thinned to every other point whenever it passes HISTORY_POINTS.
HISTORY_KEYS = (
    "loss",
    "eval_loss",
    "learning_rate",
    "grad_norm",
    "rewards/accuracies",
    "rewards/margins",
    "accuracy",
    "kl",
    "epoch",
)
HISTORY_POINTS = 1000


def progress_callback(run: TaskRun, interval: float | None = None) -> Any:
    from transformers import TrainerCallback

    every = PROGRESS_INTERVAL if interval is None else interval

    class RunProgress(TrainerCallback):
        """Steps → run progress (and cancellation); logged losses → the run's loss history and log.
        Flushed at most every `interval` seconds and at the end of training."""

        def __init__(self):
            self.history, self.lines, self.last = [], [], 0.0

        def flush(self, state, force=False):
            now = time.monotonic()
            if not force and now - self.last < every:
                return
            self.last = now
            history = None
            if self.history:
                history = run.metrics.get("history", []) + self.history
                while len(history) > HISTORY_POINTS:
                    history = history[::2]
            runs.record(
                run,
                progress=state.global_step,
                total=state.max_steps,
                metrics={"history": history} if history else None,
                lines=self.lines,
            )  # raises RunCancelled
            self.history, self.lines = [], []

        def on_train_begin(self, args, state, control, **kwargs):
            runs.record(run, progress=0, total=state.max_steps)
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            self.flush(state, force=state.global_step >= state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs:
                return
            entry = {k: round(v, 6) if isinstance(v, float) else v for k, v in logs.items() if k in HISTORY_KEYS}
            if entry:
                self.history.append({"step": state.global_step, **entry})
            if "loss" in logs:
                self.lines.append(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.flush(state, force=True)

    return RunProgress()


def _load_models(ft, on):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    spec = ft.model_spec
    tokenizer = load_tokenizer(spec, padding_side="right")
    dtype = torch_dtype(spec.dtype, on)
    if ft.method == FineTuneMethod.REWARD:
        model = AutoModelForSequenceClassification.from_pretrained(spec.path_or_id, num_labels=1, dtype=dtype)
        model.config.pad_token_id = tokenizer.pad_token_id
        return model, tokenizer
    model = AutoModelForCausalLM.from_pretrained(spec.path_or_id, dtype=dtype)
    return model, tokenizer


def reference_model(ft: FineTuneRun, trainer: Any) -> Any:
    """The reference policy for evaluation: none with LoRA (adapters off), else the trainer's own
    frozen copy, else the spec loaded again."""
    if ft.lora:
        return None
    ref = getattr(trainer, "ref_model", None)
    if ref is not None:
        return ref
    from transformers import AutoModelForCausalLM

    spec = ft.model_spec
    return (
        AutoModelForCausalLM.from_pretrained(spec.path_or_id, dtype=torch_dtype(spec.dtype, trainer.model.device.type))
        .to(trainer.model.device)
        .eval()
    )


def fitter_for(ft: FineTuneRun, args: Any, tokenizer: Any) -> finetune_data.Fitter | None:
    """Fits rows into the run's max_length, keeping the end of long prompts (finetune_data.Fitter)."""
    max_length = getattr(args, "max_length", None)
    if not max_length:
        return None
    return finetune_data.Fitter(tokenizer, max_length, (ft.config or {}).get("max_prompt_length"))


RATIONALE_GAMMA = 1.0  # the rationale term's weight γ when the run's config does not set rationale_gamma


def kto_class_weights(rows: Any) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) that balance the classes as TRL's KTO documentation
    recommends (desirable_weight · n_desirable ≈ undesirable_weight · n_undesirable, within 1:1–4:3):
    the minority class is weighted up by n_majority / n_minority; (1, 1) when a class is empty."""
    desirable = sum(bool(r["label"]) for r in rows)
    undesirable = len(rows) - desirable
    if not desirable or not undesirable:
        return 1.0, 1.0
    if desirable < undesirable:
        return round(undesirable / desirable, 4), 1.0
    return 1.0, round(desirable / undesirable, 4)


@dataclass
class BuiltTrainer:
    """The TRL trainer for a run, its tokenizer, and the data counts: what was left out or cut
    before TRL (noise weighting, fitting into max_length) and after its own processing (recorded
    as the run's `rows` metrics)."""

    trainer: "Trainer"
    tokenizer: Any
    counts: dict[str, Any]


def build_trainer(ft: FineTuneRun, output_dir: Path, callbacks: Sequence[Any] = (), on: str = "cpu") -> BuiltTrainer:
    """The same trainer a bare TRL script would build from the same config and data (BuiltTrainer)."""
    from trl import DPOTrainer, KTOTrainer, RewardTrainer

    # lazy: these modules subclass TRL's trainers, so importing them loads torch and TRL; web
    # processes import this module (forms, run pages) and must not pay for that.
    from workers.pref_trainers import TandemDPOTrainer, WeightedRewardTrainer
    from workers.reward_loss import ScaledBTRewardTrainer, needs_margin

    args = trl_config(ft, output_dir)
    model, tokenizer = _load_models(ft, on)

    conversational = bool(tokenizer.chat_template)
    fitter = fitter_for(ft, args, tokenizer)
    margin = ft.method == FineTuneMethod.REWARD and needs_margin(bt_loss_of(ft))
    # rdpo's estimated ε reaches only the pairwise rows it was estimated for (an explicit one, all rows)
    per_kind_epsilon = ft.method == FineTuneMethod.RDPO and "label_smoothing" not in (ft.config or {})
    found = finetune_data.dataset_for(
        ft.snapshot,
        ft.method,
        "train",
        weighting=ft.noise_weighting,
        threshold=ft.noise_threshold,
        seed=ft.seed,
        conversational=conversational,
        fitter=fitter,
        margin=margin,
        per_kind_epsilon=per_kind_epsilon,
    )
    train, counts = found.dataset, found.counts
    if train is None:
        raise ValueError(f"snapshot {ft.snapshot} has no training rows for {ft.method}")
    if ft.method == FineTuneMethod.RDPO and "label_smoothing" not in (ft.config or {}):  # ε of the rows kept
        choice = rdpo_epsilon.choose(ft.snapshot.epsilon, counts["epsilon"])
        args.label_smoothing = choice.applied
        counts["rdpo_epsilon"] = dataclasses.asdict(choice)
    evaluation = None
    if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "no":  # eval loss curve on the test split
        evaluation = finetune_data.dataset_for(
            ft.snapshot,
            ft.method,
            "test",
            conversational=conversational,
            fitter=fitter,
            margin=margin,
            per_kind_epsilon=per_kind_epsilon,
        ).dataset
        if evaluation is None:
            raise ValueError(f"eval_strategy is {args.eval_strategy} but snapshot {ft.snapshot} has no test rows")
    common = {
        "args": args,
        "train_dataset": train,
        "eval_dataset": evaluation,
        "processing_class": tokenizer,
        "peft_config": lora_config(ft),
        "callbacks": list(callbacks),
    }
    weighted = ft.noise_weighting == NoiseWeighting.WEIGHT
    config = ft.config or {}
    trainer: Trainer
    if ft.method == FineTuneMethod.REWARD:
        if weighted and bt_loss_of(ft) != "bt":
            raise ConfigError(f"per-row noise weights and bt_loss={bt_loss_of(ft)} cannot be combined; choose one")
        trainer = (
            WeightedRewardTrainer
            if weighted
            else ScaledBTRewardTrainer
            if bt_loss_of(ft) == "scaled"
            else RewardTrainer
        )(model=model, **common)
    elif ft.method == FineTuneMethod.KTO:
        if "desirable_weight" not in config and "undesirable_weight" not in config:
            args.desirable_weight, args.undesirable_weight = kto_class_weights(train)
        counts["kto_weights"] = {
            "desirable": args.desirable_weight,
            "undesirable": args.undesirable_weight,
            "n_desirable": sum(bool(x) for x in train["label"]),
            "n_undesirable": sum(not x for x in train["label"]),
        }
        trainer = KTOTrainer(model=model, **common)
    elif (
        weighted
        or ft.method == FineTuneMethod.DPO_RATIONALE
        or any(d is not None and "robust" in d.column_names for d in (train, evaluation))
    ):  # per-row robust masks (rdpo with edit rows) in either split need Tandem's loss
        gamma = config.get("rationale_gamma", RATIONALE_GAMMA) if ft.method == FineTuneMethod.DPO_RATIONALE else 0.0
        counts["rationale_gamma"] = gamma
        trainer = TandemDPOTrainer(model=model, rationale_gamma=gamma, **common)
    else:
        trainer = DPOTrainer(model=model, **common)
    after = finetune_data.after_trl(trainer.train_dataset, counts["kept"], getattr(args, "max_length", None))
    counts.update(trl_rows=after.rows, trl_dropped=after.dropped, trl_truncated=after.truncated)
    return BuiltTrainer(trainer, tokenizer, counts)


def _epsilon_lines(counts):
    choice = counts.get("rdpo_epsilon")
    if not choice:
        return []
    return [
        f"rdpo ε = {choice['applied']:.4f} from the {choice['source']} (snapshot's pre-filter ε: {choice['snapshot']})"
    ] + ([choice["note"]] if choice["note"] else [])


def evaluate_run(ft: FineTuneRun, trainer: Any, tokenizer: Any) -> dict[str, Any]:
    pairs = finetune_data.test_pairs(
        ft.snapshot, conversational=bool(tokenizer.chat_template), fitter=fitter_for(ft, trainer.args, tokenizer)
    )
    model = trainer.model
    max_length = getattr(trainer.args, "max_length", None) or 512
    if ft.method == FineTuneMethod.REWARD:
        return evaluate.reward_model_accuracy(model, tokenizer, pairs, max_length)
    beta = getattr(trainer.args, "beta", 0.1)
    return evaluate.implicit_reward_accuracy(model, reference_model(ft, trainer), tokenizer, pairs, beta, max_length)


def train(run: TaskRun) -> dict[str, Any]:
    """The service behind the finetune task."""

    release()  # a GPU worker may still hold models from generation tasks
    ft = FineTuneRun.objects.select_related("snapshot", "model_spec").get(run=run)
    final = Path(ft.output_dir or runs.run_dir(run))
    # An attempt writes into a directory of its own and renames it into place once everything is
    # written, so the result directory is whole or absent; a worker killed half-way leaves only a
    # `.partial` directory, which the next attempt removes (one set of artifacts, never two).
    for leftover in [final, *final.parent.glob(f"{final.name}.attempt-*.partial")]:
        if leftover.exists():
            shutil.rmtree(leftover)
    out = final.with_name(f"{final.name}.attempt-{run.attempts}.partial")
    out.mkdir(parents=True)
    if ft.method == FineTuneMethod.REWARD_MIXTURE:
        metrics = reward_mixture.train(ft, out, log=lambda line: runs.log(run, line))
        os.replace(out, final)  # like every run: the result directory appears whole
        ft.evaluation = metrics["evaluation"]
        ft.save(update_fields=["evaluation"])
        return metrics
    on = device()
    built = build_trainer(ft, out / "checkpoints", [progress_callback(run)], on)
    trainer, tokenizer, counts = built.trainer, built.tokenizer, built.counts
    run.refresh_from_db(fields=["metrics", "log_tail"])
    runs.record(
        run,
        metrics={"history": [], "rows": counts},
        lines=[
            f"{ft.method} on {ft.snapshot} with {ft.model_spec.name} ({'LoRA' if ft.lora else 'full'}, {on})",
            f"train rows: {counts['kept']} kept, {counts['dropped']} dropped by noise weighting ({ft.noise_weighting})",
            f"fitting into max_length {getattr(trainer.args, 'max_length', None)}: {counts.get('prompts_cut', 0)} prompts cut to their end, "
            f"{counts.get('completions_cut', 0)} rows with a completion still too long (TRL cuts its end)",
            f"after TRL's processing: {counts['trl_rows']} rows, {counts['trl_dropped']} dropped, "
            f"{counts['trl_truncated']} to be truncated at max_length",
        ]
        + ([f"per-row weights 1 − p_noise, mean {counts['weight_mean']}"] if "weight_mean" in counts else [])
        + (
            [f"rationale term γ = {counts['rationale_gamma']}, {counts.get('with_rationale', 0)} rows with a rationale"]
            if ft.method == FineTuneMethod.DPO_RATIONALE
            else []
        )
        + ([f"KTO weights from class counts: {counts['kto_weights']}"] if "kto_weights" in counts else [])
        + _epsilon_lines(counts),
    )
    result = trainer.train()
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    trainer.state.save_to_json(str(out / "trainer_state.json"))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    started = time.perf_counter()
    evaluation = evaluate_run(ft, trainer, tokenizer)
    evaluation["seconds"] = round(time.perf_counter() - started, 3)
    acc = evaluation["accuracy"]
    runs.log(
        run,
        f"test preference accuracy: {'n/a (no pair to score)' if acc is None else f'{acc:.3f}'} on "
        f"{evaluation['pairs']} pairs; {evaluation.get('pairs_excluded', 0)} left out (a completion cut to nothing)",
    )
    metrics = {
        "train_loss": result.training_loss,
        "train_runtime": result.metrics.get("train_runtime"),
        "steps": trainer.state.global_step,
        "rows": counts,
        "evaluation": evaluation,
        "label_smoothing": getattr(trainer.args, "label_smoothing", None),
        "bt_loss": bt_loss_of(ft) if ft.method == FineTuneMethod.REWARD else None,
    }
    (out / "metrics.json").write_text(json.dumps({**metrics, "history": trainer.state.log_history}, indent=2))
    os.replace(out, final)  # atomic on one filesystem: the result appears whole
    model_dir = final / "model"
    ft.evaluation = evaluation
    if ft.method != FineTuneMethod.REWARD:
        ft.result_spec, _ = ModelSpec.objects.update_or_create(
            name=f"run-{run.pk}-{ft.method}",
            defaults={
                "project_id": ft.snapshot.project_id,
                "path_or_id": str(model_dir),
                "dtype": ft.model_spec.dtype,
                "max_length": ft.model_spec.max_length,
                "chat_template": ft.model_spec.chat_template,
            },
        )
    ft.save(update_fields=["evaluation", "result_spec"])
    return metrics
