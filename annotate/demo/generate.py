"""Builds the bundled demo dataset (deterministic: same files on every run).

    python -m annotate.demo.generate          # rewrites annotate/demo/data/*.jsonl

Files, one per import shape, so loading the demo also exercises the importer:
  pairs.jsonl          helpsteer2  prompt/response_1/response_2[/preference_strength] → pairwise
  hh.jsonl             preference  hh-rlhf "Human:/Assistant:" transcripts → pairwise, labelled
  completions.jsonl    completions prompt/completions[{text, model, score}] → pairwise (best vs worst)
  binary.jsonl         binary      prompt/response[/label] → binary
  conversations.jsonl  messages    multi-turn messages → binary
  edit.jsonl           binary      prompt/response[/edited] → edit items (as_kind="edit"); a few seed edits
"""

import json
import random
from pathlib import Path
from typing import Any

from annotate.demo.content_code import CODE
from annotate.demo.content_talk import ADVICE, CONVERSATIONS, EDITED, EDITS, SAFETY
from annotate.demo.maths import problems

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20240601
MODELS = ["llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "mistral-7b-instruct", "gemma-2-9b-it"]


def _pair_row(rng, prompt, good, bad, strength, rationale=""):
    """HelpSteer2 row with the better response on a random side; strength only when labelled."""
    models = rng.sample(MODELS, 2)
    if rng.random() < 0.5:
        row = {"prompt": prompt, "response_1": good, "response_2": bad, "model_1": models[0], "model_2": models[1]}
        sign = -1
    else:
        row = {"prompt": prompt, "response_1": bad, "response_2": good, "model_1": models[1], "model_2": models[0]}
        sign = 1
    row["preference_strength"] = sign * strength if strength else None
    if strength and rationale:
        row["preference_elaboration"] = rationale
    return row


def _hh(turns):
    return "".join(f"\n\n{'Human' if role == 'user' else 'Assistant'}: {text}" for role, text in turns)


def build(seed=SEED):
    rng = random.Random(seed)
    maths = problems(rng, 110)
    files: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("pairs", "hh", "completions", "binary", "conversations", "edit")
    }

    # Pairwise, HelpSteer2 shape: every third pair carries a seed label.
    pair_sources = [(c["prompt"], c["good"], c["bad"], c["why"]) for c in CODE]
    pair_sources += [(p, g, b, "") for p, g, b in ADVICE + SAFETY]
    pair_sources += [(p, g, b, "The other response makes an arithmetic or reasoning slip.") for p, g, b in maths[:40]]
    for i, (prompt, good, bad, why) in enumerate(pair_sources):
        strength = rng.choice([2, 3]) if i % 3 == 0 else None
        files["pairs"].append(_pair_row(rng, prompt, good, bad, strength, why))

    # Pairwise, hh-rlhf transcripts (no prompt column; chosen is better by construction).
    for turns, good, bad in CONVERSATIONS:
        flat = [(role, text) for role, text in turns if role != "system"]
        files["hh"].append({"chosen": _hh(flat + [("assistant", good)]), "rejected": _hh(flat + [("assistant", bad)])})
    for prompt, good, bad in maths[40:55]:
        files["hh"].append(
            {
                "chosen": _hh([("user", prompt), ("assistant", good)]),
                "rejected": _hh([("user", prompt), ("assistant", bad)]),
            }
        )

    # Pairwise, UltraFeedback-like: three scored completions, paired best vs worst on import.
    for prompt, good, bad in maths[55:70]:
        answer = good.rsplit("**", 2)[-2] if good.count("**") >= 2 else good
        completions = [(good, 9), (f"The answer is **{answer}**.", 6), (bad, 2)]
        rng.shuffle(completions)
        files["completions"].append(
            {
                "prompt": prompt,
                "completions": [
                    {"text": text, "model": rng.choice(MODELS), "score": score} for text, score in completions
                ],
            }
        )

    # Binary: one response per prompt, good or flawed; about half labelled.
    singles = [(c["prompt"], c["good"], c["bad"]) for c in CODE] + list(ADVICE) + list(SAFETY) + maths[70:100]
    for i, (prompt, good, bad) in enumerate(singles):
        is_good = rng.random() < 0.5
        files["binary"].append(
            {
                "prompt": prompt,
                "response": good if is_good else bad,
                "model": rng.choice(MODELS),
                "label": is_good if i % 2 == 0 else None,
            }
        )
    for i, (turns, good, bad) in enumerate(CONVERSATIONS):
        for j, (response, is_good) in enumerate(((good, True), (bad, False))):
            messages = [{"role": role, "content": text} for role, text in turns] + [
                {"role": "assistant", "content": response}
            ]
            files["conversations"].append(
                {"messages": messages, "model": rng.choice(MODELS), "label": is_good if (i + j) % 2 == 0 else None}
            )

    # Edit: responses worth improving: a factual slip, verbosity, wrong register, a wrong worked answer.
    edits = list(EDITS) + [(p, b) for p, _, b in ADVICE] + [(p, b) for p, _, b in maths[100:110]]
    edits += [(c["prompt"], c["bad"]) for c in CODE[:8]] + [(p, g) for p, g, _ in maths[70:80]]
    for prompt, response in edits:
        files["edit"].append(
            {"prompt": prompt, "response": response, "model": rng.choice(MODELS), "edited": EDITED.get(prompt)}
        )
    return files


def write(directory=DATA_DIR):
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in build().items():
        with (directory / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[name] = len(rows)
    return counts


if __name__ == "__main__":
    print(write())
