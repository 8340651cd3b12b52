"""Features benchmark: Tandem's feature computation (curation.features.compute_features: embedding
with the content-hash cache, lexical features over arrays, tags, judge signals, upsert) against a
bare sentence-transformers `encode` of the same texts, measured in the same run, at a few sizes.

    DATABASE_URL=... SECRET_KEY=x python bench/features.py [--sizes 1000,10000] [--responses 4] [--threads 1]

Texts are real: prompts and responses from ../shared/data (AlpacaEval instructions and outputs,
hh-rlhf conversations and their last assistant turns). Two shapes of data per size:
- shared prompts: each prompt has `--responses` responses and every pair of them is an item
  (UltraFeedback's shape: 4 completions, 6 pairs per prompt), so a prompt is in 6 items and a
  response in 3: the duplication rate (share of the items' texts that repeat one already seen) is
  printed;
- no duplicates: every item has its own prompt and two responses of its own.
A size larger than the real pool reuses its texts with a short " (k)" suffix, so every text stays
distinct where it should (a few tokens longer; lengths stay those of the real data).

Baselines, same texts, same model, same 128-token limit, ST's defaults (batch 32):
- bare encode of the items' texts, 3 per item (what a per-chunk pipeline without a cache encodes);
- bare encode of the distinct texts only (the floor for any pipeline that must encode them).
Tandem's run is cold (empty cache: each size runs in a transaction that is rolled back) and then
warm (the same items again: everything from the cache). The figures are wall-clock items/s on the
machine as it is; CPU seconds of this process are printed too, steadier on a shared machine.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


class Rollback(Exception):
    pass


def real_pool():
    prompts, responses = [], []
    for line in (DATA / "alpaca_eval_gpt4_judged.jsonl").read_text().splitlines():
        r = json.loads(line)
        prompts.append(r["instruction"])
        responses += [r["output_1"], r["output_2"]]
    for line in (DATA / "hh_rlhf_harmless_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        cut_a, cut_b = r["chosen"].rfind("\n\nAssistant:"), r["rejected"].rfind("\n\nAssistant:")
        prompts.append(r["chosen"][:cut_a])
        responses += [r["chosen"][cut_a + 12 :], r["rejected"][cut_b + 12 :]]
    return list(dict.fromkeys(prompts)), list(dict.fromkeys(responses))


def variant(pool, k):
    """The k-th distinct text drawn from the pool: the real text, then with a " (n)" suffix."""
    text, n = pool[k % len(pool)], k // len(pool)
    return text if n == 0 else f"{text} ({n})"


def items_shared(n_items, responses_per_prompt, pool):
    """(prompt, a, b) triples: every pair among each prompt's responses."""
    prompts, responses = pool
    out, p, r = [], 0, 0
    while len(out) < n_items:
        texts = [variant(responses, r + j) for j in range(responses_per_prompt)]
        r += responses_per_prompt
        prompt = variant(prompts, p)
        p += 1
        out += [(prompt, texts[i], texts[j]) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    return out[:n_items]


def items_distinct(n_items, pool):
    prompts, responses = pool
    return [(variant(prompts, i), variant(responses, 2 * i), variant(responses, 2 * i + 1)) for i in range(n_items)]


def clock(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_encode(texts):
    """sentence-transformers as a user would call it: same model, same 128-token limit."""
    from curation.features import EMBED_MAX_TOKENS
    from workers.ml import embeddings

    model = embeddings.model()
    model.max_seq_length = EMBED_MAX_TOKENS
    model.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def tandem(triples):
    """compute_features on the triples in a throwaway project: cold, then warm. Rolled back."""
    from django.db import transaction

    from annotate.models import Item, Project, Prompt, Response
    from curation.features import FeatureCounts, compute_features

    result = {}
    try:
        with transaction.atomic():
            project = Project.objects.create(name=f"bench-features-{time.time_ns()}")
            prompts = {
                t: Prompt(project=project, text=t, content_hash=str(i))
                for i, t in enumerate(dict.fromkeys(p for p, _, _ in triples))
            }
            Prompt.objects.bulk_create(prompts.values())
            responses = {}
            for p, a, b in triples:
                for t in (a, b):
                    responses.setdefault((p, t), Response(prompt=prompts[p], text=t))
            Response.objects.bulk_create(responses.values())
            Item.objects.bulk_create(
                [
                    Item(
                        project=project,
                        prompt=prompts[p],
                        kind="pairwise",
                        response_a=responses[(p, a)],
                        response_b=responses[(p, b)],
                    )
                    for p, a, b in triples
                ]
            )
            for phase in ("cold", "warm"):
                counts = FeatureCounts()
                wall, cpu = clock(lambda: compute_features(project, counts=counts))  # noqa: B023
                result[phase] = (wall, cpu, counts)
            raise Rollback
    except Rollback:
        pass
    return result


def measure(name, triples):
    texts = [t for triple in triples for t in triple]
    distinct = list(dict.fromkeys(texts))
    n = len(triples)
    run = tandem(triples)
    all_wall, all_cpu = clock(lambda: bare_encode(texts))
    distinct_wall, distinct_cpu = clock(lambda: bare_encode(distinct))
    (cold, cold_cpu, counts), (warm, warm_cpu, _) = run["cold"], run["warm"]
    dup = 1 - len(distinct) / len(texts)
    return [
        f"{name}: {n:,} items, {len(texts):,} texts, {len(distinct):,} distinct (duplication {dup:.0%}); "
        f"encoded {counts.embedded:,}, cache hits {counts.cached:,}; load average {os.getloadavg()[0]:.1f}",
        f"  Tandem features, cold cache   {n / cold:8.1f} items/s  ({cold:7.1f} s, CPU {cold_cpu:7.1f} s)",
        f"  Tandem features, warm re-run  {n / warm:8.1f} items/s  ({warm:7.1f} s, CPU {warm_cpu:7.1f} s)",
        f"  bare encode, all item texts   {n / all_wall:8.1f} items/s  ({all_wall:7.1f} s, CPU {all_cpu:7.1f} s)"
        f"  -> Tandem cold {all_wall / cold:.2f}x (CPU {all_cpu / cold_cpu:.2f}x), warm {all_wall / warm:.1f}x",
        f"  bare encode, distinct texts   {n / distinct_wall:8.1f} items/s  ({distinct_wall:7.1f} s, CPU {distinct_cpu:7.1f} s)"
        f"  -> Tandem cold {distinct_wall / cold:.2f}x (CPU {distinct_cpu / cold_cpu:.2f}x)",
        f"  100k items at this rate: cold {100_000 / (n / cold) / 60:.1f} min (CPU {100_000 * cold_cpu / n / 60:.1f} CPU-min,"
        f" {100_000 * cold_cpu / n / 120:.1f} min if both cores were ours), bare encode of all texts {100_000 / (n / all_wall) / 60:.1f} min",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="item counts, comma-separated")
    parser.add_argument(
        "--responses", type=int, default=4, help="responses per prompt in the shared-prompt case (all pairs are items)"
    )
    parser.add_argument("--skip-distinct", action="store_true", help="only the shared-prompt case")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads for both sides (default: torch's, one per core)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "features.txt"))
    args = parser.parse_args()
    import torch

    from workers.ml import embeddings

    if args.threads:
        torch.set_num_threads(args.threads)
    embeddings.MiniLM(128).encode(["warm-up: a worker loads the model once, not part of a run's cost"])
    pool = real_pool()
    lines = [
        f"features benchmark: {len(pool[0]):,} real prompts, {len(pool[1]):,} real responses; "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    ]
    print(lines[0], flush=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        cases = [(f"shared prompts ({args.responses} responses, all pairs)", items_shared(size, args.responses, pool))]
        if not args.skip_distinct:
            cases.append(("no duplicates", items_distinct(size, pool)))
        for name, triples in cases:
            block = measure(name, triples)
            print("\n".join(block), flush=True)
            lines += block
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    main()
