import json
from pathlib import Path

import pytest
from django.urls import reverse

from tests import workers_helpers as wh
from tests.workers_helpers import artifacts_dir, tiny_model_dir  # noqa: F401
from workers import finetune, finetune_data
from workers.models import FineTuneRun, NoiseWeighting, TaskRun
from workers.tasks.finetune import finetune as finetune_task

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FAST = {"per_device_train_batch_size": 4, "num_train_epochs": 1, "learning_rate": 1e-3, "max_length": 64}


def run_method(project, model_dir, method, **kw):
    snap = kw.pop("snapshot", None) or wh.snapshot(project, pairs=12, binary=4, edits=2)
    ft = finetune.create_finetune(snap, wh.model_spec(model_dir), method, config={**FAST, **kw.pop("config", {})}, **kw)
    assert finetune_task.delay(ft.run_id).get() == "succeeded", TaskRun.objects.get(pk=ft.run_id).error
    ft.refresh_from_db()
    ft.run.refresh_from_db()
    return ft


def check_artifacts(ft, adapter=False):
    from pathlib import Path

    out = Path(ft.output_dir)
    files = {p.name for p in (out / "model").iterdir()}
    assert ("adapter_model.safetensors" in files) == adapter
    assert ("model.safetensors" in files) == (not adapter)
    assert "tokenizer.json" in files
    assert (out / "trainer_state.json").exists() and not (out / "checkpoints").exists()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["evaluation"] == ft.evaluation and saved["history"]


def test_dpo_run_trains_saves_and_evaluates(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "dpo")
    run = ft.run
    assert run.progress == run.total == run.metrics["steps"] > 0
    losses = [h["loss"] for h in run.metrics["history"] if "loss" in h]
    assert len(losses) == run.metrics["steps"]
    assert ft.evaluation["pairs"] > 0 and 0 <= ft.evaluation["accuracy"] <= 1
    assert "test preference accuracy" in run.log_tail
    check_artifacts(ft)
    # the trained model is registered and loads with from_pretrained
    from workers.ml.loading import load_causal_lm

    assert ft.result_spec and load_causal_lm(ft.result_spec) is not None
    assert ft.result_spec.project_id == project.pk  # listed in this project's forms only


def test_trl_config_mapping(project, tiny_model_dir, artifacts_dir):
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0, epsilon=0.18)
    spec = wh.model_spec(tiny_model_dir)
    ft = finetune.create_finetune(snap, spec, "rdpo", config={"beta": 0.3})
    cfg = finetune.trl_config(ft, "/tmp/x")
    assert (cfg.loss_type, cfg.label_smoothing, cfg.beta) == (["robust"], 0.18, 0.3)
    ft2 = finetune.create_finetune(snap, spec, "rdpo", config={"label_smoothing": 0.05})
    assert finetune.trl_config(ft2, "/tmp/x").label_smoothing == 0.05
    assert finetune.trl_config(finetune.create_finetune(snap, spec, "ipo"), "/tmp/x").loss_type == ["ipo"]
    assert finetune.trl_config(finetune.create_finetune(snap, spec, "bco"), "/tmp/x").loss_type == ["bco_pair"]
    before = FineTuneRun.objects.count()
    with pytest.raises(finetune.ConfigError, match="betta is not a training field"):
        finetune.create_finetune(snap, spec, "dpo", config={"betta": 0.1})
    with pytest.raises(finetune.ConfigError, match="loss follows the method"):
        finetune.create_finetune(snap, spec, "dpo", config={"loss_type": "hinge"})
    with pytest.raises(finetune.ConfigError, match="LoRA field rank is not accepted"):
        finetune.create_finetune(snap, spec, "dpo", lora={"rank": 4})
    with pytest.raises(finetune.ConfigError, match="unknown method"):
        finetune.create_finetune(snap, spec, "ppo")
    assert (
        FineTuneRun.objects.count() == before
        and not TaskRun.objects.filter(finetune__isnull=True, kind="finetune").exists()
    )


def test_rdpo_needs_epsilon(project, tiny_model_dir):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0, epsilon=None)
    with pytest.raises(finetune.ConfigError, match="flip rate"):
        finetune.create_finetune(snap, wh.model_spec(tiny_model_dir), "rdpo")


@pytest.mark.parametrize("method", ["ipo", "bco"])
def test_other_pair_losses_run(project, tiny_model_dir, artifacts_dir, method):
    ft = run_method(project, tiny_model_dir, method)
    assert ft.run.metrics["steps"] > 0 and ft.evaluation["pairs"] > 0


def test_multi_turn_prompts_keep_the_conversation(project):
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=2, binary=0, edits=0, test_fraction=0.5)
    turns = [
        {"role": "user", "content": "Hi, I am planning a trip."},
        {"role": "assistant", "content": "Where to?"},
        {"role": "user", "content": "Paris. What should I pack?"},
    ]
    row = SnapshotRow.objects.filter(snapshot=snap).first()
    SnapshotRow.objects.filter(pk=row.pk).update(data={**row.data, "messages": turns, "prompt": turns[-1]["content"]})
    split = row.split
    conv = finetune_data.rows_for(snap, "dpo", split, conversational=True).rows
    text = finetune_data.rows_for(snap, "dpo", split).rows
    assert conv[0]["prompt"] == turns and conv[0]["chosen"][0]["role"] == "assistant"
    assert text[0]["prompt"] == (
        "\n\nHuman: Hi, I am planning a trip.\n\nAssistant: Where to?"
        "\n\nHuman: Paris. What should I pack?\n\nAssistant:"
    )


def test_rdpo_run(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "rdpo")
    # ε of the kept pairwise training rows (not the snapshot's 0.1), applied to them only: the edit rows train at ε = 0
    choice = ft.run.metrics["rows"]["rdpo_epsilon"]
    assert ft.run.metrics["label_smoothing"] == choice["applied"] == pytest.approx(choice["trained"]["epsilon"])
    assert choice["snapshot"] == 0.1 and choice["source"] == "kept pairwise rows"
    assert "edit rows train with ε = 0" in choice["note"] and "rdpo ε" in ft.run.log_tail
    assert ft.run.metrics["rows"]["robust_rows"] == choice["trained"]["rows"]
    from workers.views.runs import run_context

    shown = dict(run_context(ft.run)["row_counts"])
    assert any(label.startswith("rdpo ε (from the kept pairwise rows") for label in shown)
    assert not any(isinstance(v, dict) for v in shown.values())
    check_artifacts(ft)


def test_kto_run_on_unpaired_rows(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "kto")
    # unpaired: binary rows plus both sides of every pair in the train split
    assert ft.run.metrics["rows"]["kept"] > 12
    check_artifacts(ft)
    assert ft.evaluation["pairs"] > 0


def test_reward_model_run(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "reward")
    check_artifacts(ft)
    assert ft.result_spec is None and ft.evaluation["accuracy"] is not None


def test_lora_dpo_run_saves_adapter(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "dpo", lora={"r": 4, "lora_alpha": 8})
    check_artifacts(ft, adapter=True)
    assert ft.evaluation["pairs"] > 0


def test_noise_weighting(project):
    snap = wh.snapshot(project, pairs=40, binary=0, edits=0)
    every, c0 = _rows(finetune_data.rows_for(snap, "dpo", "train"))
    dropped, c1 = _rows(finetune_data.rows_for(snap, "dpo", "train", weighting=NoiseWeighting.DROP, threshold=0.25))
    sampled, c2 = _rows(finetune_data.rows_for(snap, "dpo", "train", weighting=NoiseWeighting.SAMPLE, seed=1))
    assert c0["dropped"] == 0 and 0 < c1["dropped"] < c0["kept"] and c1["kept"] + c1["dropped"] == c0["kept"]
    assert 0 < c2["dropped"] < c0["kept"]
    assert finetune_data.rows_for(snap, "dpo", "train", weighting=NoiseWeighting.SAMPLE, seed=1).rows == sampled
    assert set(every[0]) == {"prompt", "chosen", "rejected"}


def test_weight_rows_carry_one_minus_p_noise(project):
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=12, binary=0, edits=2)
    rows, counts = _rows(finetune_data.rows_for(snap, "dpo", "train", weighting=NoiseWeighting.WEIGHT))
    every = finetune_data.rows_for(snap, "dpo", "train").rows
    assert counts["dropped"] == 0 and len(rows) == len(every)
    expected = sorted(
        1 - r.data["p_noise"]
        for r in SnapshotRow.objects.filter(snapshot=snap, split="train", kind__in=("pairwise", "edit"))
    )
    assert sorted(r["weight"] for r in rows) == pytest.approx(expected)
    assert counts["weight_mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-4)
    test_rows = finetune_data.rows_for(snap, "dpo", "test", weighting=NoiseWeighting.WEIGHT).rows
    assert "weight" not in test_rows[0]  # evaluation is unweighted


@pytest.mark.parametrize("method", ["dpo", "rdpo", "reward"])
def test_weighted_runs_record_the_weighting(project, tiny_model_dir, artifacts_dir, method):
    ft = run_method(project, tiny_model_dir, method, noise_weighting=NoiseWeighting.WEIGHT)
    rows = ft.run.metrics["rows"]
    assert ft.noise_weighting == "weight" and 0 < rows["weight_mean"] < 1 and rows["dropped"] == 0
    assert "per-row weights 1 − p_noise" in ft.run.log_tail
    history = json.loads((Path(ft.output_dir) / "metrics.json").read_text())["history"]
    if method != "reward":
        assert any("weight/mean" in h for h in history)


def test_kto_refuses_per_row_weights(project, tiny_model_dir):
    snap = wh.snapshot(project, pairs=2, binary=2, edits=0)
    with pytest.raises(finetune.ConfigError, match="not kto"):
        finetune.create_finetune(snap, wh.model_spec(tiny_model_dir), "kto", noise_weighting=NoiseWeighting.WEIGHT)


def test_dpo_rationale_run_uses_the_rationales(project, tiny_model_dir, artifacts_dir):
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=12, binary=0, edits=0)
    train = list(SnapshotRow.objects.filter(snapshot=snap, split="train"))
    for row in train[: len(train) // 2]:
        SnapshotRow.objects.filter(pk=row.pk).update(data={**row.data, "rationales": ["It is correct.", "B is wrong."]})
    rows, counts = _rows(finetune_data.rows_for(snap, "dpo_rationale", "train"))
    assert counts["with_rationale"] == len(train) // 2
    with_rat = next(r for r in rows if r["rationale"])
    assert with_rat["rationale"] == "It is correct.\n\nB is wrong."
    assert with_rat["rationale_prompt"].startswith(f"Given the prompt:\n{with_rat['prompt']}\nWhich of the following")
    ft = run_method(project, tiny_model_dir, "dpo_rationale", snapshot=snap, config={"rationale_gamma": 0.5})
    assert ft.run.metrics["rows"]["rationale_gamma"] == 0.5
    history = json.loads((Path(ft.output_dir) / "metrics.json").read_text())["history"]
    assert any(h.get("rationale_nll", 0) > 0 for h in history)
    assert "rationale term γ = 0.5" in ft.run.log_tail
    with pytest.raises(finetune.ConfigError, match="rationale_gamma does not apply to dpo"):
        finetune.create_finetune(snap, wh.model_spec(tiny_model_dir), "dpo", config={"rationale_gamma": 0.5})


def test_kto_weights_set_from_class_counts(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "kto")
    kto = ft.run.metrics["rows"]["kto_weights"]
    ratio = kto["desirable"] * kto["n_desirable"] / (kto["undesirable"] * kto["n_undesirable"])
    assert kto["n_desirable"] != kto["n_undesirable"] and 1.0 <= ratio <= 4 / 3
    assert "KTO weights from class counts" in ft.run.log_tail
    fixed = run_method(project, tiny_model_dir, "kto", config={"desirable_weight": 2.0})
    assert fixed.run.metrics["rows"]["kto_weights"]["desirable"] == 2.0
    assert fixed.run.metrics["rows"]["kto_weights"]["undesirable"] == 1.0


def test_cancel_mid_training(project, tiny_model_dir, artifacts_dir):
    from workers import runs

    snap = wh.snapshot(project, pairs=40, binary=0, edits=0)
    ft = finetune.create_finetune(
        snap, wh.model_spec(tiny_model_dir), "dpo", config={**FAST, "per_device_train_batch_size": 1}
    )
    original = finetune.progress_callback

    def cancelling(run):
        cb = original(run, interval=0)
        step_end = cb.on_step_end

        def on_step_end(args, state, control, **kw):
            if state.global_step == 2:
                runs.request_cancel(run)
            return step_end(args, state, control, **kw)

        cb.on_step_end = on_step_end
        return cb

    finetune.progress_callback = cancelling
    try:
        assert finetune_task.delay(ft.run_id).get() == "cancelled"
    finally:
        finetune.progress_callback = original
    run = TaskRun.objects.get(pk=ft.run_id)
    assert run.state == "cancelled" and run.progress == 2 < run.total


def test_lora_reward_model(project, tiny_model_dir, artifacts_dir):
    ft = run_method(project, tiny_model_dir, "reward", lora={"r": 4, "lora_alpha": 8})
    check_artifacts(ft, adapter=True)
    assert ft.evaluation["accuracy"] is not None


def test_eval_loss_curve_when_asked(project, tiny_model_dir, artifacts_dir):
    from workers.charts import loss_chart

    ft = run_method(project, tiny_model_dir, "dpo", config={"eval_strategy": "steps", "eval_steps": 1})
    history = ft.run.metrics["history"]
    assert any("eval_loss" in h for h in history) and any("loss" in h for h in history)
    chart = loss_chart(ft.run.metrics)
    assert chart.count("<polyline") == 2 and "<title>loss</title>" in chart and "<title>eval_loss</title>" in chart


# --- issue 17: training that says what it dropped ------------------------------------------------


def _rows(split):
    return split.rows, split.counts


def _long_turns(n_pairs=6):
    turns = []
    for i in range(n_pairs):
        turns += [
            {"role": "user", "content": f"Question number {i}: tell me about python code and math history please."},
            {
                "role": "assistant",
                "content": f"Answer {i}: the capital of France is Paris, water boils at 100 degrees.",
            },
        ]
    return turns


def _long_conversation_snapshot(project, pairs=12):
    """Every row a conversation of ~360 tokens of the tiny tokenizer ending in its own last question."""
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=pairs, binary=0, edits=0, test_fraction=0.25)
    for i, row in enumerate(SnapshotRow.objects.filter(snapshot=snap).order_by("id")):
        last = f"Final question {i}: what is 2 + 2?"
        SnapshotRow.objects.filter(pk=row.pk).update(
            data={**row.data, "prompt": last, "messages": _long_turns() + [{"role": "user", "content": last}]}
        )
    return snap


def test_fitting_keeps_the_end_of_long_conversations(tiny_model_dir):
    from transformers import AutoTokenizer

    from curation.text_render import render_completion, render_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    fitter = finetune_data.Fitter(tokenizer, max_length=64)
    last = {"role": "user", "content": "Final: what is 2 + 2?"}
    conv = {
        "prompt": _long_turns() + [last],
        "chosen": [{"role": "assistant", "content": "It is 4."}],
        "rejected": [{"role": "assistant", "content": "It is 5."}],
    }
    text = {
        "prompt": render_prompt(conv["prompt"]),
        "chosen": render_completion("It is 4."),
        "rejected": render_completion("It is 5."),
    }
    short = {"prompt": render_prompt([last]), "chosen": text["chosen"], "rejected": text["rejected"]}
    for row in (conv, text):
        assert sum(fitter.lengths(row, ("chosen", "rejected"))[0:1]) > 64  # the prompt alone fills max_length
    fitted = fitter.fit([conv, text, short], ("chosen", "rejected"))
    rows, counts = fitted.rows, fitted.counts
    assert (counts.rows, counts.prompts_cut, counts.completions_cut) == (3, 2, 0)
    assert rows[0]["prompt"][-1] == last and rows[0]["prompt"][0]["role"] == "user"
    assert rows[1]["prompt"].endswith("\n\nHuman: Final: what is 2 + 2?\n\nAssistant:") and rows[2] == short
    for row in rows:
        prompt, completions = fitter.lengths(row, ("chosen", "rejected"))
        assert prompt + max(completions) <= 64
    # a last turn too long by itself keeps its end
    huge = {**conv, "prompt": [{"role": "user", "content": "word " * 200 + "END?"}]}
    (cut,) = fitter.fit([huge], ("chosen", "rejected")).rows
    assert cut["prompt"][0]["content"].endswith("word END?") and fitter.lengths(cut, ("chosen", "rejected"))[0] < 64


def test_run_reports_what_was_cut_and_dropped_before_and_after_trl(
    project, tiny_model_dir, artifacts_dir, manager_user
):
    """Issue 17: a run said "kept N, dropped 0" while TRL silently dropped or truncated rows."""
    from django.test import Client

    snap = _long_conversation_snapshot(project)
    ft = run_method(project, tiny_model_dir, "dpo", snapshot=snap)
    rows = ft.run.metrics["rows"]
    train = snap.rows.filter(split="train").count()
    assert rows["kept"] == train and rows["dropped"] == 0
    assert rows["prompts_cut"] == train and rows["completions_cut"] == 0  # every prompt was too long; its end was kept
    assert (rows["trl_rows"], rows["trl_dropped"], rows["trl_truncated"]) == (train, 0, 0)
    assert ft.evaluation["pairs"] == ft.evaluation["pairs_total"] == snap.rows.filter(split="test").count()
    assert ft.evaluation["pairs_excluded"] == 0
    assert "prompts cut to their end" in ft.run.log_tail and "after TRL's processing" in ft.run.log_tail
    c = Client()
    c.force_login(manager_user)
    page = c.get(reverse("workers:run", args=[ft.run.project_id, ft.run_id])).content.decode()
    assert "prompts cut to their end (max_length)" in page and "dropped by TRL" in page


def test_evaluation_leaves_out_pairs_whose_completions_were_cut_to_nothing(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.text_render import render_prompt
    from workers import evaluate

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="float32")
    with __import__("torch").no_grad():
        for p in policy.parameters():
            p.add_(0.01 * __import__("torch").randn_like(p))
    short = {
        "prompt": render_prompt([{"role": "user", "content": "What is 2 + 2?"}]),
        "chosen": " It is 4.",
        "rejected": " It is 5.",
    }
    long = {**short, "prompt": render_prompt(_long_turns())}
    result = evaluate.implicit_reward_accuracy(
        policy, reference, tokenizer, [short, long, short, long, short], 0.1, max_length=64
    )
    assert (result["pairs_total"], result["pairs_excluded"], result["pairs"]) == (5, 2, 3)
    assert result["accuracy"] in (0.0, 1.0)  # the same pair three times
    assert result["accuracy_all_pairs"] == result["accuracy"] * 3 / 5  # the cut pairs (margin exactly 0) as misses


def test_form_warns_when_max_length_cannot_hold_most_rows(project, tiny_model_dir, manager_user):
    from django.test import Client

    from workers.forms import FineTuneForm

    spec = wh.model_spec(tiny_model_dir)  # max_length 256; the conversations are ~360 tokens
    long_snap, short_snap = _long_conversation_snapshot(project), wh.snapshot(project, pairs=6, binary=0, edits=0)
    fields = {
        "model_spec": spec.pk,
        "method": "dpo",
        "config": "",
        "lora": "",
        "noise_weighting": "none",
        "noise_threshold": 0.5,
    }
    form = FineTuneForm(project, {**fields, "snapshot": short_snap.pk})
    assert form.is_valid(), form.errors
    assert form.length_estimate.fit == form.length_estimate.sampled > 0
    form = FineTuneForm(project, {**fields, "snapshot": long_snap.pk})
    assert not form.is_valid()
    assert "Only 0 of 9 sampled training rows fit in max_length 256" in " ".join(form.non_field_errors())
    assert (
        FineTuneForm(project, {**fields, "snapshot": long_snap.pk, "config": '{"max_length": 200}'}).is_valid() is False
    )
    assert FineTuneForm(project, {**fields, "snapshot": long_snap.pk, "start_anyway": "on"}).is_valid()
    c = Client()
    c.force_login(manager_user)
    r = c.post(reverse("workers:start_finetune", args=[project.pk]), {**fields, "snapshot": long_snap.pk})
    assert r.status_code == 400 and "sampled training rows fit" in r.content.decode()
    assert not TaskRun.objects.exists()


def test_rows_trl_drops_are_counted(project, tiny_model_dir, artifacts_dir):
    """A completion longer than max_length: the reward trainer drops its row, and the run says so."""
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=12, binary=0, edits=0)
    long_rows = list(SnapshotRow.objects.filter(snapshot=snap, split="train").order_by("id")[:2])
    for row in long_rows:
        SnapshotRow.objects.filter(pk=row.pk).update(data={**row.data, "chosen": "Paris is the capital. " * 60})
    ft = run_method(project, tiny_model_dir, "reward", snapshot=snap)
    rows = ft.run.metrics["rows"]
    assert rows["completions_cut"] == 2 and rows["trl_dropped"] == 2 and rows["trl_rows"] == rows["kept"] - 2
    assert finetune_data.after_trl(None, 5, 64) == finetune_data.AfterTrl(rows=0, dropped=5, truncated=0)


def test_reward_scaled_bt_loss_is_recorded_and_scales_each_pair(project, tiny_model_dir, artifacts_dir):
    """HelpSteer2-Preference's Scaled BT: −m·log σ(r_c − r_r), m the pair's preference magnitude."""
    import torch
    from torch import nn
    from trl import RewardTrainer

    ft = run_method(project, tiny_model_dir, "reward", config={"bt_loss": "scaled"})
    assert ft.run.metrics["bt_loss"] == "scaled" and ft.evaluation["accuracy"] is not None
    assert json.loads((Path(ft.output_dir) / "metrics.json").read_text())["bt_loss"] == "scaled"
    trainer = finetune.build_trainer(ft, Path(ft.output_dir) / "scaled-check").trainer
    assert type(trainer).__name__ == "ScaledBTRewardTrainer" and "margin" in trainer.train_dataset.column_names
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    margins = torch.tensor([2.0, 0.5])
    trainer.model.eval()
    with torch.no_grad():
        plain = RewardTrainer.compute_loss(
            trainer, trainer.model, {k: v for k, v in batch.items() if k != "margin"}, return_outputs=True
        )
        chosen, rejected = torch.chunk(plain[1].logits.squeeze(-1), chunks=2)
        expected = -(margins * nn.functional.logsigmoid(chosen - rejected)).mean()
        got = trainer.compute_loss(
            trainer.model, {**{k: v for k, v in batch.items() if k != "margin"}, "margin": margins}
        )
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert got.item() != pytest.approx(plain[0].item(), rel=1e-3)  # not the plain BT loss


def test_bt_loss_is_validated(project, tiny_model_dir):
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    with pytest.raises(finetune.ConfigError, match="bt_loss must be one of"):
        finetune.create_finetune(snap, spec, "reward", config={"bt_loss": "cubic"})
    with pytest.raises(finetune.ConfigError, match="bt_loss does not apply to dpo"):
        finetune.create_finetune(snap, spec, "dpo", config={"bt_loss": "scaled"})
    ft = finetune.create_finetune(snap, spec, "reward", config={"bt_loss": "margin"})
    assert not hasattr(finetune.trl_config(ft, "/tmp/x"), "bt_loss")
    rows = finetune_data.rows_for(snap, "reward", "train", margin=True).rows
    assert rows and all(r["margin"] == 2.0 for r in rows)


def test_form_offers_dpo_rationale_and_weight(project, tiny_model_dir, artifacts_dir, manager_user):
    from django.test import Client

    spec = wh.model_spec(tiny_model_dir)
    snap = wh.snapshot(project, pairs=6, binary=0, edits=0)
    c = Client()
    c.force_login(manager_user)
    page = c.get(reverse("workers:project_runs", args=[project.pk])).content.decode()
    assert 'value="dpo_rationale"' in page and 'value="weight"' in page and "not BCO on unpaired" in page
    fields = {
        "snapshot": snap.pk,
        "model_spec": spec.pk,
        "method": "dpo_rationale",
        "lora": "",
        "noise_weighting": "weight",
        "noise_threshold": 0.5,
        "config": '{"rationale_gamma": 0.25, "max_length": 64}',
    }
    c.post(reverse("workers:start_finetune", args=[project.pk]), fields)
    ft = FineTuneRun.objects.get()
    assert (ft.method, ft.noise_weighting, ft.config["rationale_gamma"]) == ("dpo_rationale", "weight", 0.25)
    r = c.post(
        reverse("workers:start_finetune", args=[project.pk]),
        {**fields, "method": "dpo", "config": '{"rationale_gamma": 0.25}'},
    )
    assert r.status_code == 400 and "rationale_gamma does not apply to dpo" in r.content.decode()
