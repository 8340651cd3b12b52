"""The same DPO run through Tandem's fine-tune service vs a bare TRL script, in one process.

Tandem: FineTuneRun → the finetune task (run claim, heartbeat-free eager path, progress/loss written
to the database, artifacts, then test-split evaluation). Bare: the snapshot exported as JSONL
(curation.formats, the REST export's rows) → datasets.load_dataset("json") → DPOTrainer with the
same DPOConfig → save. Both train the same tiny locally built model on the same rows; runs
alternate after one warm-up each; medians are compared.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tandem SECRET_KEY=x python bench/finetune.py [--pairs 256 --repeats 3]

Prints the ratio (target ≤ 1.05 for the training path) and writes bench/results/finetune.txt.
Everything the bench creates (project, snapshot, runs, model specs, temp dirs) is removed afterwards.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from annotate.models import Project  # noqa: E402
from curation.formats import iter_export_rows  # noqa: E402
from curation.models import Snapshot, SnapshotRow  # noqa: E402
from workers import finetune  # noqa: E402
from workers.ml.tiny_models import build_tiny_causal_lm  # noqa: E402
from workers.models import FineTuneRun, ModelSpec, TaskRun  # noqa: E402
from workers.tasks.finetune import finetune as finetune_task  # noqa: E402

WORDS = [
    "the",
    "answer",
    "is",
    "correct",
    "because",
    "it",
    "cites",
    "sources",
    "checks",
    "each",
    "step",
    "and",
    "explains",
    "python",
    "code",
    "clearly",
]


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_snapshot(project, pairs, seed=0):
    rng = random.Random(seed)
    snap = Snapshot.objects.create(project=project, version=1, content_hash="bench", epsilon=0.1, test_fraction=0.1)
    rows = []
    for i in range(pairs):
        prompt = f"Question {i}: {sentence(rng, 8)}"
        data = {
            "prompt": prompt,
            "messages": None,
            "chosen": sentence(rng, 20),
            "rejected": sentence(rng, 14),
            "margin": 2.0,
            "preference": -2,
            "rationales": [],
            "p_noise": None,
            "sources": ["human"],
            "item_id": None,
        }
        rows.append(
            SnapshotRow(
                snapshot=snap, kind="pairwise", split="test" if i % 10 == 0 else "train", prompt_hash=str(i), data=data
            )
        )
    SnapshotRow.objects.bulk_create(rows)
    return snap


def bare_trl(model_dir, data_file, config, out_dir):
    """What a user would write with TRL alone on Tandem's export."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    train = load_dataset("json", data_files=str(data_file), split="train")
    args = DPOConfig(
        output_dir=str(out_dir / "checkpoints"),
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        bf16=False,
        loss_type="sigmoid",
        **config,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(str(out_dir / "model"))
    tokenizer.save_pretrained(str(out_dir / "model"))
    return result.metrics["train_runtime"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--append", action="store_true", help="append to the figures file instead of replacing it")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 keeps timings steadier on a shared machine)"
    )
    opts = parser.parse_args()
    import datasets
    import torch

    torch.set_num_threads(opts.threads)
    # A training job tokenises its data once; without this, the bare script's repeated
    # load_dataset("json") of the same file would hit datasets' on-disk cache from the 2nd run on.
    datasets.disable_caching()

    tmp = Path(tempfile.mkdtemp(prefix="tandem-bench-finetune-"))
    settings.ARTIFACTS_DIR = tmp / "artifacts"
    model_dir = build_tiny_causal_lm(tmp / "model", hidden_size=opts.hidden, extra_texts=WORDS)
    project = Project.objects.create(name=f"bench-finetune-{os.getpid()}")
    spec = ModelSpec.objects.create(
        name=f"bench-tiny-{os.getpid()}", path_or_id=model_dir, dtype="float32", max_length=256
    )
    config = {
        "beta": 0.1,
        "learning_rate": 5e-4,
        "num_train_epochs": opts.epochs,
        "per_device_train_batch_size": opts.batch,
        "max_length": 128,
        "logging_steps": 1,
        "seed": 42,
    }
    try:
        snap = make_snapshot(project, opts.pairs)
        data_file = tmp / "export.jsonl"
        with data_file.open("w") as fh:
            # the format Tandem trains on for a model with a chat template (finetune_data.format_for)
            for row in iter_export_rows(snap, "preference_conversational", split="train"):
                fh.write(json.dumps(row) + "\n")
        train_rows = sum(1 for _ in data_file.open())

        def tandem():
            ft = finetune.create_finetune(snap, spec, "dpo", config=config)
            wall, cpu = time.perf_counter(), time.process_time()
            finetune_task.apply(args=[ft.run_id])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            run = TaskRun.objects.get(pk=ft.run_id)
            assert run.state == "succeeded", run.error
            evaluation = run.metrics["evaluation"]["seconds"]
            return {
                "wall": wall - evaluation,
                "cpu": cpu,
                "wall_with_eval": wall,
                "steps": run.metrics["steps"],
                "loop": run.metrics["train_runtime"],
            }

        def bare(i):
            out = tmp / f"bare-{i}"
            wall, cpu = time.perf_counter(), time.process_time()
            loop = bare_trl(model_dir, data_file, config, out)
            return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "loop": loop}

        tandem()
        bare("warm")  # warm-up: imports, first-call compilation
        t, b = [], []
        for i in range(opts.repeats):
            b.append(bare(i))
            t.append(tandem())

        def stat(rows, key, how):
            return how([r[key] for r in rows])

        med, best = statistics.median, min
        ratio_min = stat(t, "wall", best) / stat(b, "wall", best)
        ratio_med = stat(t, "wall", med) / stat(b, "wall", med)
        lines = [
            f"bench/finetune.py — DPO, tiny Llama (hidden {opts.hidden}), {train_rows} train pairs, batch {opts.batch}, "
            f"{t[0]['steps']} steps, torch threads {opts.threads}, {opts.repeats} alternating repeats after warm-up, "
            f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
            f"bare TRL script (export JSONL → DPOTrainer → save): wall best {stat(b, 'wall', best):.2f}s median {stat(b, 'wall', med):.2f}s"
            f"  {[round(r['wall'], 2) for r in b]}",
            f"Tandem run, training path (claim, progress, loss history, save; evaluation excluded): wall best "
            f"{stat(t, 'wall', best):.2f}s median {stat(t, 'wall', med):.2f}s  {[round(r['wall'], 2) for r in t]}",
            f"Tandem run with its test-split evaluation: wall median {stat(t, 'wall_with_eval', med):.2f}s",
            f"ratio Tandem/bare (training path), best of {opts.repeats}: {ratio_min:.3f}   median: {ratio_med:.3f}   (target ≤ 1.05)",
            f"ratio Tandem/bare CPU time (process, incl. evaluation), median: {stat(t, 'cpu', med) / stat(b, 'cpu', med):.3f}",
            f"training loop alone (Trainer's train_runtime), median: bare {stat(b, 'loop', med):.2f}s, Tandem {stat(t, 'loop', med):.2f}s,"
            f" ratio {stat(t, 'loop', med) / stat(b, 'loop', med):.3f}",
            f"ratio with evaluation, median: {stat(t, 'wall_with_eval', med) / stat(b, 'wall', med):.3f}"
            "  (evaluation is extra work the bare script does not do)",
            f"machine load average during the bench: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times on a shared"
            " machine are noisy; the CPU-time and training-loop ratios are the steadier figures)",
        ]
        text = "\n".join(lines)
        print(text)
        out = ROOT / "bench" / "results" / "finetune.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        if opts.append and out.exists():
            text = out.read_text() + "\n" + text
        out.write_text(text + "\n")
    finally:
        FineTuneRun.objects.filter(snapshot__project=project).delete()
        TaskRun.objects.filter(project=project).delete()
        Snapshot.objects.filter(project=project).delete()
        project.delete()
        ModelSpec.objects.filter(name__startswith=f"bench-tiny-{os.getpid()}").delete()
        ModelSpec.objects.filter(path_or_id__startswith=str(tmp)).delete()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
