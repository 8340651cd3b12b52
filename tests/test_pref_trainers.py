"""Tandem's TRL subclasses on a tiny model: the rationale term and per-row weights do exactly what
they say, measured against quantities computed independently of the trainer."""

import pytest
import torch

from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import finetune_data
from workers.finetune import kto_class_weights

pytestmark = pytest.mark.slow

ROWS = [
    {
        "prompt": "What is the capital of France?",
        "chosen": " The capital of France is Paris.",
        "rejected": " I cannot help.",
    },
    {
        "prompt": "How hot does water boil?",
        "chosen": " Water boils at 100 degrees Celsius.",
        "rejected": " def add(a, b)",
    },
]
RATIONALES = ["It answers the question directly.", "B is wrong and unhelpful."]


def dpo_trainer(model_dir, rows, tmp_path, **kw):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from workers.pref_trainers import TandemDPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = DPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=len(rows),
        max_length=256,
        report_to="none",
        bf16=False,
        dataloader_pin_memory=False,
        seed=0,
        beta=0.1,
        loss_type=kw.pop("loss_type", "sigmoid"),
    )
    return TandemDPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, **kw
    )


def batch_of(trainer):
    return next(iter(trainer.get_train_dataloader()))


def loss_and_grads(trainer, batch):
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    return loss.detach(), grads.clone()


def independent_rationale_nll(model, tokenizer, rows):
    """Mean over rows of −Σ log p(rationale tokens | chat-templated paper prompt), computed by hand."""
    total = 0.0
    for row in rows:
        if not row["rationale"]:
            continue
        context = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["rationale_prompt"]}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        target = tokenizer(row["rationale"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt_ids + target])
        logps = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        positions = range(len(prompt_ids) - 1, ids.shape[1] - 1)
        total = total - sum(logps[p, ids[0, p + 1]] for p in positions)
    return total / len(rows)


def with_rationales(rationales):
    return [
        {
            **r,
            "rationale": rat,
            "rationale_prompt": finetune_data.rationale_prompt(r["prompt"], r["chosen"], r["rejected"]),
        }
        for r, rat in zip(ROWS, rationales)
    ]


def test_rationale_term_adds_gamma_times_nll_to_loss_and_gradient(tiny_model_dir, tmp_path):
    rows = with_rationales(RATIONALES)
    trainer = dpo_trainer(tiny_model_dir, rows, tmp_path)
    batch = batch_of(trainer)
    assert "rationale_input_ids" in batch
    trainer.rationale_gamma = 0.0
    plain, plain_grad = loss_and_grads(trainer, batch)
    gamma = 0.7
    trainer.rationale_gamma = gamma
    with_rat, rat_grad = loss_and_grads(trainer, batch)
    trainer.model.zero_grad()
    nll = independent_rationale_nll(trainer.model, trainer.processing_class, rows)
    nll.backward()
    nll_grad = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    assert nll.item() > 1.0
    assert with_rat.item() == pytest.approx(plain.item() + gamma * nll.item(), rel=1e-5)
    assert torch.allclose(rat_grad - plain_grad, gamma * nll_grad, atol=1e-5, rtol=1e-4)


def test_rows_without_rationale_give_trls_dpo_loss(tiny_model_dir, tmp_path):
    from trl import DPOTrainer

    rows = with_rationales(["", ""])
    trainer = dpo_trainer(tiny_model_dir, rows, tmp_path, rationale_gamma=1.0)
    ours, _ = loss_and_grads(trainer, batch_of(trainer))
    plain = DPOTrainer(
        model=trainer.model,
        ref_model=trainer.ref_model,
        args=trainer.args,
        train_dataset=trainer.train_dataset,
        processing_class=trainer.processing_class,
    )
    theirs = plain.compute_loss(plain.model, batch_of(plain))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    # one row with a rationale, one without: only the first adds its NLL (halved: the mean over rows)
    mixed = with_rationales([RATIONALES[0], ""])
    trainer = dpo_trainer(tiny_model_dir, mixed, tmp_path, rationale_gamma=1.0)
    loss, _ = loss_and_grads(trainer, batch_of(trainer))
    nll = independent_rationale_nll(trainer.model, trainer.processing_class, mixed)
    assert loss.item() == pytest.approx(theirs.item() + nll.item(), rel=1e-5)


@pytest.mark.parametrize("loss_type", ["sigmoid", "robust", "ipo", "bco_pair"])
def test_weight_zero_row_has_no_gradient_and_unit_weights_are_trls_loss(tiny_model_dir, tmp_path, loss_type):
    from trl import DPOTrainer

    other = {"prompt": "Tell me about cooking.", "chosen": " Thumbs up.", "rejected": " The user asked about math."}
    a = dpo_trainer(
        tiny_model_dir, [{**ROWS[0], "weight": 1.0}, {**ROWS[1], "weight": 0.0}], tmp_path, loss_type=loss_type
    )
    b = dpo_trainer(
        tiny_model_dir, [{**ROWS[0], "weight": 1.0}, {**other, "weight": 0.0}], tmp_path, loss_type=loss_type
    )
    if loss_type == "robust":
        a.label_smoothing = b.label_smoothing = 0.2
    loss_a, grad_a = loss_and_grads(a, batch_of(a))
    loss_b, grad_b = loss_and_grads(b, batch_of(b))
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-6)
    assert torch.allclose(grad_a, grad_b, atol=1e-7)
    # the zero-weight row does matter when weighted 1 (so the check above can fail)
    c = dpo_trainer(
        tiny_model_dir, [{**ROWS[0], "weight": 1.0}, {**ROWS[1], "weight": 1.0}], tmp_path, loss_type=loss_type
    )
    if loss_type == "robust":
        c.label_smoothing = 0.2
    loss_c, grad_c = loss_and_grads(c, batch_of(c))
    assert not torch.allclose(grad_a, grad_c, atol=1e-7)
    plain = DPOTrainer(
        model=c.model,
        ref_model=c.ref_model,
        args=c.args,
        train_dataset=c.train_dataset.remove_columns(["weight"]),
        processing_class=c.processing_class,
    )
    plain.label_smoothing = c.label_smoothing
    assert loss_c.item() == pytest.approx(plain.compute_loss(plain.model, batch_of(plain)).item(), rel=1e-5)


def test_robust_mask_applies_epsilon_only_to_marked_rows(tiny_model_dir, tmp_path):
    """rdpo over mixed kinds: a row marked robust 1 takes TRL's robust loss at ε, a row marked 0 TRL's
    sigmoid loss (ε = 0); the batch's loss and gradient are their mean, each computed by TRL's own
    trainer on that row alone. (At the start policy = reference, so every loss is log 2 and only the
    gradients tell robust from sigmoid: the robust one is 1 / (1 − 2ε) times larger.)"""
    from trl import DPOTrainer

    mixed = dpo_trainer(
        tiny_model_dir, [{**ROWS[0], "robust": 1.0}, {**ROWS[1], "robust": 0.0}], tmp_path, loss_type="robust"
    )
    mixed.label_smoothing = 0.2
    loss, grads = loss_and_grads(mixed, batch_of(mixed))

    def trl_loss_and_grads(row, loss_type, epsilon):
        one = dpo_trainer(tiny_model_dir, [row], tmp_path, loss_type=loss_type)
        plain = DPOTrainer(
            model=one.model, args=one.args, train_dataset=one.train_dataset, processing_class=one.processing_class
        )
        plain.label_smoothing = epsilon
        return loss_and_grads(plain, batch_of(plain))

    robust, robust_grads = trl_loss_and_grads(ROWS[0], "robust", 0.2)
    sigmoid, sigmoid_grads = trl_loss_and_grads(ROWS[1], "sigmoid", 0.0)
    assert loss.item() == pytest.approx((robust.item() + sigmoid.item()) / 2, rel=1e-5)
    assert torch.allclose(grads, (robust_grads + sigmoid_grads) / 2, rtol=1e-4, atol=1e-7)
    # one ε on both rows gives another gradient (so the check above can fail)
    _, both_robust = trl_loss_and_grads(ROWS[1], "robust", 0.2)
    assert not torch.allclose(grads, (robust_grads + both_robust) / 2, rtol=1e-3, atol=1e-6)


def test_rows_for_marks_only_pairwise_rows_robust(project):
    from tests import workers_helpers as wh

    snap = wh.snapshot(project, pairs=6, binary=0, edits=3, epsilon=0.2)
    found = finetune_data.rows_for(snap, "rdpo", "train", per_kind_epsilon=True)
    marks = [r["robust"] for r in found.rows]
    assert found.counts["robust_rows"] == marks.count(1.0) == found.counts["epsilon"]["pairwise"]["rows"]
    assert marks.count(0.0) == found.counts["epsilon"]["edit"]["rows"] > 0
    only_pairs = wh.snapshot(project, pairs=6, binary=0, edits=0, epsilon=0.2)
    assert "robust" not in finetune_data.rows_for(only_pairs, "rdpo", "train", per_kind_epsilon=True).rows[0]
    assert "robust" not in finetune_data.rows_for(snap, "rdpo", "train").rows[0]


def test_weighted_reward_trainer_zero_weight_row_has_no_gradient(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig

    from workers.pref_trainers import WeightedRewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    other = {"prompt": "Tell me about cooking.", "chosen": " Thumbs up.", "rejected": " The user asked about math."}

    def trainer(rows):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        args = RewardConfig(
            output_dir=str(tmp_path),
            per_device_train_batch_size=2,
            max_length=256,
            report_to="none",
            bf16=False,
            dataloader_pin_memory=False,
            seed=0,
        )
        return WeightedRewardTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )

    a = trainer([{**ROWS[0], "weight": 1.0}, {**ROWS[1], "weight": 0.0}])
    b = trainer([{**ROWS[0], "weight": 1.0}, {**other, "weight": 0.0}])
    c = trainer([{**ROWS[0], "weight": 1.0}, {**ROWS[1], "weight": 1.0}])
    _, grad_a = loss_and_grads(a, batch_of(a))
    _, grad_b = loss_and_grads(b, batch_of(b))
    _, grad_c = loss_and_grads(c, batch_of(c))
    assert torch.allclose(grad_a, grad_b, atol=1e-7)
    assert not torch.allclose(grad_a, grad_c, atol=1e-7)


def test_kto_class_weights_balance_the_classes():
    rows = [{"label": True}] * 3 + [{"label": False}] * 9
    desirable, undesirable = kto_class_weights(rows)
    assert (desirable, undesirable) == (3.0, 1.0)
    assert 1.0 <= desirable * 3 / (undesirable * 9) <= 4 / 3
    assert kto_class_weights([{"label": True}] * 4) == (1.0, 1.0)
    assert kto_class_weights([{"label": True}] * 8 + [{"label": False}] * 2) == (1.0, 4.0)
