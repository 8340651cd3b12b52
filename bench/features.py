"""Features benchmark: Tandem's feature computation (curation.features.compute_features: embedding
with the content-hash cache, lexical features over arrays, tags, judge signals, upsert) against a
bare sentence-transformers `encode` of the same texts, measured in the same run, at a few sizes.

    DATABASE_URL=... SECRET_KEY=x python bench/features.py [--sizes 1000,100000] [--responses 4]
                                                            [--encoder auto|static|contextual] [--sample 300]

Texts are real: prompts and responses from ../shared/data (AlpacaEval instructions and outputs,
hh-rlhf conversations and their last assistant turns). Two shapes of data per size:
- shared prompts: each prompt has `--responses` responses and every pair of them is an item
  (UltraFeedback's shape: 4 completions, 6 pairs per prompt), so a prompt is in 6 items and a
  response in 3: the duplication rate (share of the items' texts that repeat one already seen) is
  printed;
- no duplicates: every item has its own prompt and two responses of its own.
A size larger than the real pool reuses its texts with a short " (k)" suffix, so every text stays
distinct where it should (a few tokens longer; lengths stay those of the real data).

Tandem's run uses the encoder the app picks on this machine (`--encoder auto`: the static MiniLM
on a CPU, the contextual one on a GPU; workers.ml.static_embeddings), cold (empty cache: each size
runs in a transaction that is rolled back) and then warm (the same items again: all from the cache).

Baselines, same texts, same 128-token limit, in the same run:
- bare sentence-transformers encode (contextual MiniLM, ST's defaults, batch 32) of the items'
  texts, 3 per item. At 100k items that alone takes hours on a CPU, so it is timed on a random
  sample of `--sample` items' texts and its rate is applied to all of them (printed as such);
- bare model2vec `StaticModel.encode` of the distinct texts (the floor for the static path).
How close the static features are to the contextual ones is printed on real items (a prompt with
its own two responses, from each dataset; the timing items pair texts at random, so their
similarities mean nothing): Spearman correlation of cos(A, B), cos(prompt, A) and the gap
cos(prompt, A) − cos(prompt, B).
The figures are wall-clock items/s on the machine as it is; CPU seconds of this process are
printed too, steadier on a shared machine.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

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
    return model.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def bare_static(texts):
    from curation.features import EMBED_MAX_TOKENS
    from workers.ml.static_embeddings import static_model

    return static_model().encode(texts, max_length=EMBED_MAX_TOKENS, use_multiprocessing=False)


def real_triples(n, rng):
    """n real items per dataset: a prompt with its own two responses (AlpacaEval; hh-rlhf's last turns)."""
    alpaca = [json.loads(line) for line in (DATA / "alpaca_eval_gpt4_judged.jsonl").read_text().splitlines()]
    hh = []
    for line in (DATA / "hh_rlhf_harmless_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        cut_a, cut_b = r["chosen"].rfind("\n\nAssistant:"), r["rejected"].rfind("\n\nAssistant:")
        hh.append((r["chosen"][:cut_a], r["chosen"][cut_a + 12 :], r["rejected"][cut_b + 12 :]))
    return {
        "AlpacaEval": [
            (alpaca[i]["instruction"], alpaca[i]["output_1"], alpaca[i]["output_2"])
            for i in rng.choice(len(alpaca), n, replace=False)
        ],
        "hh-rlhf": [hh[i] for i in rng.choice(len(hh), n, replace=False)],
    }


def agreement(triples):
    """Spearman correlation of the static and contextual similarity features over real items."""
    from scipy.stats import spearmanr

    texts = [t for triple in triples for t in triple]
    static = bare_static(texts).reshape(len(triples), 3, -1)
    contextual = bare_encode(texts).reshape(len(triples), 3, -1)

    def sims(v):
        pa, pb, ab = (np.einsum("ij,ij->i", v[:, i], v[:, j]) for i, j in ((0, 1), (0, 2), (1, 2)))
        return {"cos(A,B)": ab, "cos(P,A)": pa, "cos(P,A) − cos(P,B)": pa - pb}

    s, c = sims(static), sims(contextual)
    return ", ".join(f"{k} {spearmanr(s[k], c[k]).statistic:.2f}" for k in s)


def tandem(triples, encoder):
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
                wall, cpu = clock(lambda: compute_features(project, counts=counts, encoder=encoder))  # noqa: B023
                result[phase] = (wall, cpu, counts)
            raise Rollback
    except Rollback:
        pass
    return result


def measure(name, triples, encoder, sample_size, rng):
    texts = [t for triple in triples for t in triple]
    distinct = list(dict.fromkeys(texts))
    n = len(triples)
    run = tandem(triples, encoder)
    sample = [triples[i] for i in sorted(rng.choice(n, min(sample_size, n), replace=False))]
    sample_texts = [t for triple in sample for t in triple]
    st_wall, st_cpu = clock(lambda: bare_encode(sample_texts))
    st_rate = len(sample_texts) / st_wall  # texts/s
    st_all = len(texts) / st_rate  # seconds for all the items' texts at the sampled rate
    m2v_wall, m2v_cpu = clock(lambda: bare_static(distinct))
    (cold, cold_cpu, counts), (warm, warm_cpu, _) = run["cold"], run["warm"]
    dup = 1 - len(distinct) / len(texts)
    return [
        f"{name}: {n:,} items, {len(texts):,} texts, {len(distinct):,} distinct (duplication {dup:.0%}); "
        f"encoder {counts.encoder}: encoded {counts.embedded:,}, cache hits {counts.cached:,}; "
        f"load average {os.getloadavg()[0]:.1f}",
        f"  Tandem features, cold cache   {n / cold:8.1f} items/s  ({cold:7.1f} s, CPU {cold_cpu:7.1f} s)",
        f"  Tandem features, warm re-run  {n / warm:8.1f} items/s  ({warm:7.1f} s, CPU {warm_cpu:7.1f} s)",
        f"  bare sentence-transformers encode, all item texts {n / st_all:8.1f} items/s ({st_all:8.1f} s; "
        f"rate timed on {len(sample_texts):,} texts of {len(sample):,} sampled items: {st_wall:.1f} s, "
        f"CPU {st_cpu:.1f} s)  -> Tandem cold {st_all / cold:.1f}x",
        f"  bare model2vec encode, distinct texts {n / m2v_wall:8.1f} items/s ({m2v_wall:7.1f} s, CPU {m2v_cpu:7.1f} s)"
        f"  -> Tandem cold {m2v_wall / cold:.2f}x",
        f"  100k items at this rate: Tandem cold {100_000 / (n / cold) / 60:.1f} min, "
        f"bare sentence-transformers encode {100_000 / (n / st_all) / 60:.1f} min",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="item counts, comma-separated")
    parser.add_argument(
        "--responses", type=int, default=4, help="responses per prompt in the shared-prompt case (all pairs are items)"
    )
    parser.add_argument("--skip-distinct", action="store_true", help="only the shared-prompt case")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads for both sides (default: torch's, one per core)"
    )
    parser.add_argument("--encoder", default="auto", help="auto (what the app picks here), static or contextual")
    parser.add_argument("--sample", type=int, default=300, help="items whose texts time the bare encode")
    parser.add_argument("--agreement-items", type=int, default=200, help="real items per dataset for the agreement")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "features.txt"))
    args = parser.parse_args()
    import torch

    from curation.features import feature_encoder
    from workers.ml import embeddings

    if args.threads:
        torch.set_num_threads(args.threads)
    encoder = feature_encoder(args.encoder)
    warm_up = ["warm-up: a worker loads its models once, not part of a run's cost"]
    embeddings.MiniLM(128).encode(warm_up)
    encoder.encode(warm_up)
    bare_static(warm_up)
    pool = real_pool()
    rng = np.random.default_rng(0)
    lines = [
        f"features benchmark: {len(pool[0]):,} real prompts, {len(pool[1]):,} real responses; "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; Tandem's encoder {encoder.name}"
    ]
    for dataset, triples in real_triples(args.agreement_items, rng).items():
        lines.append(
            f"static vs contextual similarity features, {args.agreement_items} real {dataset} items "
            f"(a prompt with its own two responses), Spearman: {agreement(triples)}"
        )
    print("\n".join(lines), flush=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        cases = [(f"shared prompts ({args.responses} responses, all pairs)", items_shared(size, args.responses, pool))]
        if not args.skip_distinct:
            cases.append(("no duplicates", items_distinct(size, pool)))
        for name, triples in cases:
            block = measure(name, triples, encoder, args.sample, rng)
            print("\n".join(block), flush=True)
            lines += block
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    main()
