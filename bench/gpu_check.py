"""GPU check: Tandem's GPU paths on a real accelerator, on the embedded default (SQLite, tasks in-process).

    python bench/gpu_check.py [--pairs 256] [--out DIR]

No weights can be downloaded on the lent GPU machine, so the model is a *randomly initialised*
Llama-shaped causal LM of about 200 M parameters (hidden 1024, 16 layers) with the tiny locally
trained tokenizer (workers/tiny_models.py). Its replies are gibberish: what this measures is the
throughput of the code paths (batched left-padded generation, bf16, device placement, TRL's
trainers), not label quality. Random weights rarely emit EOS, so every reply runs to
max_new_tokens on both sides of the comparison.

1. Judging: `start_judging` (prompts, both orders, parsing, one Annotation per item) against a bare
   `model.generate` over the same rendered prompts in the same batches, measured in the same run.
2. Fine-tunes through the real task (`workers.tasks.finetune`): DPO, LoRA DPO and a reward model
   on a snapshot of the same pairs; wall time, steps and the device the trainer used.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(var_dir):
    os.environ.setdefault("TANDEM_VAR_DIR", str(var_dir))
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("TANDEM_EAGER_TASKS", "1")  # tasks in this process: no worker on the GPU box
    os.environ.setdefault("SECRET_KEY", "gpu-check")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_model(out_dir, hidden=1024, layers=16):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from workers.ml.tiny_models import build_tokenizer

    tok = build_tokenizer(out_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 11 // 4,
        num_hidden_layers=layers,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters())


def judge_bench(model_dir, pairs, batch, new_tokens, report):
    import torch

    from annotate.judging import backends
    from annotate.judging.service import requests_for
    from annotate.models import LMJudge
    from tests import factories
    from workers.ml.loading import chat_prompt
    from workers.models import ModelSpec, RunState
    from workers.tasks.judging import start_judging

    project = factories.project()
    for i in range(pairs):
        factories.item(
            project,
            kind="pairwise",
            text_a=f"Answer {i}: Paris is the capital of France. " * (1 + i % 4),
            text_b=f"Answer {i}: I cannot help with that. " * (1 + i % 3),
        )
    ModelSpec.objects.create(name="gpu-check-200m", path_or_id=model_dir, dtype="bfloat16", max_length=1024)
    judge = LMJudge.objects.create(
        name="gpu-judge",
        backend="transformers",
        model="gpu-check-200m",
        parameters={"max_new_tokens": new_tokens, "batch_size": batch},
    )
    judge.projects.add(project)
    backend = backends.backend_for(judge)  # loads once; both sides below share the loaded model
    report["judge_device"] = str(backend.model.device)
    report["judge_dtype"] = str(backend.model.dtype)
    backend.generate([[{"role": "user", "content": "warm up"}]] * batch)

    from annotate.models import Item

    texts = [
        chat_prompt(backend.tokenizer, r.messages)
        for item in Item.objects.filter(project=project).order_by("pk")
        for r in requests_for(item, judge)
    ]
    tok, model = backend.tokenizer, backend.model

    def bare_generate():
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for start in range(0, len(texts), batch):
            enc = tok(texts[start : start + batch], return_tensors="pt", padding=True, add_special_tokens=False).to(
                model.device
            )
            with torch.inference_mode():
                model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    # Bare generation before and after Tandem's run, so neither side gets the GPU's warm-up.
    bare_before = bare_generate()
    t0 = time.perf_counter()
    (run,) = start_judging(project)
    tandem = time.perf_counter() - t0
    bare_after = bare_generate()
    bare = min(bare_before, bare_after)
    assert run.state == RunState.SUCCEEDED or run.progress == pairs, (run.state, run.error)
    report["judge"] = {
        "pairs": pairs,
        "generations": len(texts),
        "batch_size": batch,
        "max_new_tokens": new_tokens,
        "bare_generate_s": round(bare, 2),
        "bare_before_s": round(bare_before, 2),
        "bare_after_s": round(bare_after, 2),
        "tandem_judging_s": round(tandem, 2),
        "bare_pairs_per_s": round(pairs / bare, 1),
        "tandem_pairs_per_s": round(pairs / tandem, 1),
        "tandem_over_bare": round(tandem / bare, 3),
        "run_state": run.state,
        "run_error": run.error[:200],
    }
    return project


def finetune_bench(project, model_dir, pairs, report):
    from tests import workers_helpers as wh
    from workers import finetune
    from workers.models import TaskRun
    from workers.tasks.finetune import finetune as finetune_task

    snap = wh.snapshot(project, pairs=pairs, binary=0, edits=0, epsilon=0.1)
    spec = wh.model_spec(model_dir, name="gpu-ft-200m")
    spec.dtype = "bfloat16"
    spec.save()
    results = {}
    for label, method, kw in (
        ("dpo", "dpo", {}),
        ("dpo_lora", "dpo", {"lora": {"r": 16, "lora_alpha": 32}}),
        ("reward", "reward", {}),
    ):
        config = {"per_device_train_batch_size": 16, "num_train_epochs": 1, "learning_rate": 1e-5, "max_length": 256}
        ft = finetune.create_finetune(snap, spec, method, config=config, **kw)
        t0 = time.perf_counter()
        state = finetune_task.delay(ft.run_id).get()
        elapsed = time.perf_counter() - t0
        run = TaskRun.objects.get(pk=ft.run_id)
        ft.refresh_from_db()
        results[label] = {
            "state": state,
            "seconds": round(elapsed, 1),
            "error": (run.error or "")[:300],
            "train_rows": snap.counts.get("train"),
            "metrics": {k: v for k, v in (run.metrics or {}).items() if not isinstance(v, (list, dict))},
            "evaluation": ft.evaluation if isinstance(ft.evaluation, dict) else None,
        }
        print(label, json.dumps(results[label])[:600], flush=True)
    report["finetune"] = results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--out", default=None)
    ap.add_argument("--hidden", type=int, default=1024, help="64 with --layers 2 for a CPU smoke run")
    ap.add_argument("--layers", type=int, default=16)
    args = ap.parse_args()
    var = Path(tempfile.mkdtemp(prefix="tandem-gpu-"))
    setup(var)
    import torch

    report = {
        "cuda": torch.cuda.is_available(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    model_dir = str(var / "model-200m")
    report["params"] = build_model(model_dir, args.hidden, args.layers)
    print(json.dumps(report), flush=True)
    project = judge_bench(model_dir, args.pairs, args.batch, args.new_tokens, report)
    print(json.dumps(report["judge"]), flush=True)
    finetune_bench(project, model_dir, args.pairs, report)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_check.json").write_text(text)


if __name__ == "__main__":
    main()
