"""Snapshot → the `datasets.Dataset` a TRL trainer reads, through curation/formats.py's TRL formats.

Per-row weights from noise scores. TRL 1.16's trainers take no per-example loss weights (DPO's
`use_weighting` is WPO's policy-probability weighting, not sample weights), so noise is applied to
the data instead, honestly and reproducibly:
- `drop`:   rows with p_noise > threshold are left out;
- `sample`: each row is kept with probability 1 − p_noise (seeded), which weights the expected
            loss by 1 − p_noise at the price of variance; rows without an estimate are kept.
- `weight`: every row is kept with a `weight` column of 1 − p_noise (1 without an estimate), which
            Tandem's trainer subclasses multiply into each row's loss (workers/pref_trainers.py).
`dpo_rationale` rows also carry `rationale` (the row's rationales joined, "" when none) and
`rationale_prompt` (the paper's conditioning text, built from the prompt and both responses).
The number of rows kept and dropped is stored in the run's metrics, and so is ε over the rows
kept, per feedback kind (`trained_epsilon`): after `drop`/`sample` the kept rows are cleaner than
the snapshot, so robust DPO gets their flip rate, not the snapshot's pre-filter one. ε is estimated
for pairwise rows only, so with `per_kind_epsilon` rows of other kinds (edit-derived pairs) carry
`robust` = 0 and the pairwise rows `robust` = 1: robust DPO's ε reaches only the rows it was
estimated for (workers/pref_trainers.py).

Multi-turn prompts: when the model has a chat template, pair methods train on TRL's
conversational preference format (the whole conversation before the answer, rendered with the
template); otherwise on text rows (the whole conversation rendered by curation/text_render.py).
KTO reads unpaired rows, conversational in the same way. Rows too long for max_length are fitted below (keeping the end).
"""

import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from curation.formats import iter_export_rows
from curation.models import Snapshot
from curation.noise import bootstrap_epsilon
from workers.models import FineTuneMethod, ModelSpec, NoiseWeighting

if TYPE_CHECKING:
    from datasets import Dataset

FORMAT: dict[str, str] = {
    FineTuneMethod.DPO: "preference",
    FineTuneMethod.DPO_RATIONALE: "preference",
    FineTuneMethod.RDPO: "preference",
    FineTuneMethod.IPO: "preference",
    FineTuneMethod.BCO: "preference",
    FineTuneMethod.REWARD: "preference",
    FineTuneMethod.KTO: "unpaired",
}
COLUMNS = {
    "preference": ["prompt", "chosen", "rejected"],
    "preference_conversational": ["prompt", "chosen", "rejected"],
    "unpaired": ["prompt", "completion", "label"],
    "unpaired_conversational": ["prompt", "completion", "label"],
}

# Just et al. 2024's conditioning text for a rationale, from the reference code
# (reds-lab/preference-learning-with-rationales, dataloader.py, general rationales).
RATIONALE_TEMPLATE = (
    "Given the prompt:\n{prompt}\n"
    "Which of the following assistant's response is more preferable and strictly follows with the prompt question?\n"
    'Response above:"{chosen}"\nor\nResponse below:"{rejected}"?\n'
)


def as_text(value) -> str:
    """A prompt or completion in TRL's text or conversational form, as plain text."""
    if isinstance(value, str):
        return value
    return "\n\n".join(f"{m['role'].title()}: {m['content']}" for m in value)


def rationale_prompt(prompt, chosen, rejected) -> str:
    return RATIONALE_TEMPLATE.format(prompt=as_text(prompt), chosen=as_text(chosen), rejected=as_text(rejected))


def format_for(method: str, conversational: bool = False) -> str:
    fmt = FORMAT[method]
    return f"{fmt}_conversational" if conversational else fmt


def keep_row(row: dict[str, Any], weighting: str, threshold: float, rng: random.Random) -> bool:
    noise = row.get("noise")
    if weighting in (NoiseWeighting.NONE, NoiseWeighting.WEIGHT) or noise is None:
        return True
    if weighting == NoiseWeighting.DROP:
        return noise <= threshold
    return rng.random() >= noise


@dataclass
class SplitRows:
    """One split's rows in TRL's column names, and what was left out or cut on the way: `counts`
    is {"kept": n, "dropped": m, ...}, recorded as the run's `rows` metrics (JSON)."""

    rows: list[dict[str, Any]]
    counts: dict[str, Any]


@dataclass
class SplitDataset:
    """`SplitRows` as a datasets.Dataset; None when the split has no rows."""

    dataset: "Dataset | None"
    counts: dict[str, Any]


def rows_for(
    snapshot: Snapshot,
    method: str,
    split: str,
    weighting: str = NoiseWeighting.NONE,
    threshold: float = 0.5,
    seed: int = 42,
    conversational: bool = False,
    fitter: "Fitter | None" = None,
    margin: bool = False,
    per_kind_epsilon: bool = False,
) -> SplitRows:
    """Rows in TRL's column names for one split, and counts: {"kept": n, "dropped": m} (noise weighting),
    and with a `fitter` also what fitting into max_length cut (FitCounts' fields). margin: keep the
    export's `margin` column (the reward trainer's Scaled BT and BT-with-margin read it).
    per_kind_epsilon: when the rows mix pairwise rows with other kinds, mark which ones robust DPO's
    ε applies to (`robust` 1.0 for pairwise rows, 0.0 for the rest; no column when all are pairwise)."""
    fmt = format_for(method, conversational)
    rng = random.Random(seed)
    kept: list[dict[str, Any]] = []
    dropped = 0
    kinds: list[tuple[str, float | None]] = []
    for kind, row in iter_export_rows(snapshot, fmt, split=split, with_kind=True):
        if split == "train" and not keep_row(row, weighting, threshold, rng):
            dropped += 1
            continue
        out = {col: row[col] for col in COLUMNS[fmt] + (["margin"] if margin else [])}
        if split == "train" and weighting == NoiseWeighting.WEIGHT:
            out["weight"] = 1.0 - row["noise"] if row.get("noise") is not None else 1.0
        if method == FineTuneMethod.DPO_RATIONALE:
            out["rationale"] = row.get("rationale") or ""
            out["rationale_prompt"] = rationale_prompt(row["prompt"], row["chosen"], row["rejected"])
        kept.append(out)
        kinds.append((kind, None if row.get("controversial") else row.get("noise")))
    counts: dict[str, Any] = {"kept": len(kept), "dropped": dropped}
    if per_kind_epsilon and any(kind != "pairwise" for kind, _ in kinds):
        for out, (kind, _) in zip(kept, kinds, strict=True):
            out["robust"] = 1.0 if kind == "pairwise" else 0.0
        counts["robust_rows"] = sum(kind == "pairwise" for kind, _ in kinds)
    if split == "train" and weighting == NoiseWeighting.WEIGHT:
        counts["weight_mean"] = round(sum(r["weight"] for r in kept) / len(kept), 4) if kept else None
    if method == FineTuneMethod.DPO_RATIONALE:
        counts["with_rationale"] = sum(bool(r["rationale"]) for r in kept)
    if split == "train":
        counts["epsilon"] = {k: asdict(e) for k, e in trained_epsilon(kinds).items()}
    if fitter is not None:
        fitted = fitter.fit(kept, completion_keys(fmt))
        kept = fitted.rows
        counts.update(prompts_cut=fitted.counts.prompts_cut, completions_cut=fitted.counts.completions_cut)
    return SplitRows(kept, counts)


@dataclass
class KindEpsilon:
    """ε of one feedback kind over the rows a run trains on: the mean posterior flip probability
    of the kept rows that have one (controversial rows left out, as in the snapshot's ε), with
    curation.noise's bootstrap 95% interval; None when none of them has an estimate."""

    rows: int
    rows_with_noise: int
    epsilon: float | None
    epsilon_low: float | None
    epsilon_high: float | None


def trained_epsilon(kinds: list[tuple[str, float | None]]) -> dict[str, KindEpsilon]:
    """{kind: KindEpsilon} from [(kind, p_noise or None)] of the kept rows."""
    out: dict[str, KindEpsilon] = {}
    for kind in sorted({k for k, _ in kinds}):
        rows = [p for k, p in kinds if k == kind]
        p = [x for x in rows if x is not None]
        eps, low, high = bootstrap_epsilon(p) if p else (None, None, None)
        out[kind] = KindEpsilon(len(rows), len(p), eps, low, high)
    return out


def dataset_for(snapshot: Snapshot, method: str, split: str, **weighting: Any) -> SplitDataset:
    from datasets import Dataset

    found = rows_for(snapshot, method, split, **weighting)
    return SplitDataset(Dataset.from_list(found.rows) if found.rows else None, found.counts)


def test_pairs(
    snapshot: Snapshot, conversational: bool = False, fitter: "Fitter | None" = None
) -> list[dict[str, Any]]:
    """Preference pairs of the test split (every method is evaluated on pairs), fitted as the training rows are."""
    fmt = "preference_conversational" if conversational else "preference"
    pairs = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in iter_export_rows(snapshot, fmt, split="test")]
    if fitter is not None:
        pairs = fitter.fit(pairs, ("chosen", "rejected")).rows
    return pairs


# --- fitting rows into max_length -------------------------------------------------------------
# TRL 1.16 cuts a sequence (prompt + completion) at max_length from the end ("keep_start", its only
# supported mode), and drops a row whose prompt alone fills max_length. A long conversation would
# then lose its last turns and the answer, the part the preference is about. Tandem fits rows
# first, as TRL's DPOTrainer used to with max_prompt_length and truncation_mode="keep_end":
# a prompt too long for its completions loses its oldest turns (whole turns; the last turn is cut
# from its start when it alone is too long) down to
#     budget = max(max_prompt_length, max_length − longest completion),  max_prompt_length = max_length // 2 by default,
# so the end of the conversation and the completions stay. Completions longer than what is left
# are still cut at their end by TRL; those rows are counted, as are rows TRL drops.


@dataclass
class FitCounts:
    rows: int = 0
    prompts_cut: int = 0  # prompts shortened, keeping their end
    completions_cut: int = 0  # rows whose longest completion still passes max_length (TRL cuts its end)


@dataclass
class Fitted:
    rows: list[dict[str, Any]]
    counts: FitCounts


class Fitter:
    """Token lengths with the model's tokenizer, measured as TRL's trainers tokenise rows."""

    def __init__(self, tokenizer, max_length, max_prompt_length=None):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.max_prompt_length = max_prompt_length or max_length // 2

    def ids(self, value, generation_prompt=False):
        if isinstance(value, str):
            return self.tokenizer(text=value)["input_ids"]
        return self.tokenizer.apply_chat_template(
            value, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
        )["input_ids"]

    def lengths(self, row, completion_keys):
        """(prompt tokens, [completion tokens]) of a row in TRL's columns."""
        return self.lengths_of([row], completion_keys)[0]

    def lengths_of(self, rows, completion_keys):
        """`lengths` of many rows: templates rendered one by one, then one batched tokenizer call
        (as apply_chat_template tokenises: without adding special tokens; text rows as TRL does, with)."""
        texts, specials = [], []
        for row in rows:
            prompt = row["prompt"]
            if isinstance(prompt, str):
                texts += [prompt] + [prompt + row[k] for k in completion_keys]
                specials.append(True)
            else:
                render = self.tokenizer.apply_chat_template
                texts += [render(prompt, tokenize=False, add_generation_prompt=True)]
                texts += [render(prompt + row[k], tokenize=False) for k in completion_keys]
                specials.append(False)
        width = 1 + len(completion_keys)
        out = []
        for with_specials in (True, False):
            picked = [i for i, s in enumerate(specials) if s == with_specials]
            if not picked:
                continue
            ids = self.tokenizer(
                [texts[i * width + j] for i in picked for j in range(width)], add_special_tokens=with_specials
            )["input_ids"]
            for n, i in enumerate(picked):
                lens = [len(x) for x in ids[n * width : (n + 1) * width]]
                extra = 1 if with_specials else 0  # TRL appends EOS to text completions
                out.append((i, (lens[0], [max(c - lens[0], 0) + extra for c in lens[1:]])))
        return [lengths for _, lengths in sorted(out, key=lambda pair: pair[0])]

    def cut_prompt(self, prompt, budget):
        """The prompt's end that fits in `budget` tokens: whole turns first, then the last turn's end."""
        if isinstance(prompt, str):
            starts = [m.start() for m in re.finditer(r"\n\nHuman: ", prompt)] or [0]
            for start in starts[1:]:
                if len(self.ids(prompt[start:], True)) <= budget:
                    return prompt[start:]
            tail = prompt[starts[-1] :]
            return self.tokenizer.decode(self.ids(tail)[-budget:], skip_special_tokens=True)
        system = [m for m in prompt[:1] if m["role"] == "system"]
        rest = prompt[len(system) :]
        while len(rest) > 1 and len(self.ids(system + rest, True)) > budget:
            rest = rest[1:]
            while len(rest) > 1 and rest[0]["role"] != "user":  # a conversation starts with the user
                rest = rest[1:]
        messages = system + rest
        over = len(self.ids(messages, True)) - budget
        if over > 0:
            content = self.tokenizer(rest[-1]["content"], add_special_tokens=False)["input_ids"]
            kept = self.tokenizer.decode(content[min(over, len(content)) :], skip_special_tokens=True)
            messages = system + rest[:-1] + [{**rest[-1], "content": kept}]
        return messages

    def fit(self, rows: list[dict[str, Any]], completion_keys: tuple[str, ...]) -> Fitted:
        """Rows with over-long prompts cut to their end, and what was cut."""
        counts = FitCounts(rows=len(rows))
        out = []
        for row, (p, completions) in zip(rows, self.lengths_of(rows, completion_keys)):
            longest = max(completions)
            if p + longest > self.max_length:
                budget = min(max(self.max_prompt_length, self.max_length - longest), self.max_length - 1)
                if p > budget:
                    row = {**row, "prompt": self.cut_prompt(row["prompt"], budget)}
                    p = len(self.ids(row["prompt"], True))
                    counts.prompts_cut += 1
                if p + longest > self.max_length:
                    counts.completions_cut += 1
            out.append(row)
        return Fitted(out, counts)

    def estimate(self, rows, completion_keys):
        """LengthEstimate of rows as they are (before any cut)."""
        totals = sorted(p + max(c) for p, c in self.lengths_of(rows, completion_keys))
        fit = sum(t <= self.max_length for t in totals)
        return LengthEstimate(
            sampled=len(totals),
            fit=fit,
            max_length=self.max_length,
            median=totals[len(totals) // 2] if totals else 0,
            longest=totals[-1] if totals else 0,
        )


@dataclass
class LengthEstimate:
    sampled: int
    fit: int  # rows whose prompt and longest completion fit in max_length untouched
    max_length: int
    median: int
    longest: int

    @property
    def most_fit(self):
        return self.sampled == 0 or self.fit * 2 > self.sampled


def completion_keys(fmt: str) -> tuple[str, ...]:
    return ("completion",) if fmt.startswith("unpaired") else ("chosen", "rejected")


def estimate_lengths(
    snapshot: Snapshot, method: str, tokenizer: Any, max_length: int, sample: int = 200, seed: int = 0
) -> "LengthEstimate":
    """How many rows of the snapshot's train split the model's max_length holds, from a seeded sample."""
    fmt = format_for(method, conversational=bool(tokenizer.chat_template))
    rows = [{col: r[col] for col in COLUMNS[fmt]} for r in iter_export_rows(snapshot, fmt, split="train")]
    if len(rows) > sample:
        rows = random.Random(seed).sample(rows, sample)
    return Fitter(tokenizer, max_length).estimate(rows, completion_keys(fmt))


@dataclass
class AfterTrl:
    rows: int  # rows TRL kept
    dropped: int
    truncated: int  # rows its collator will cut at max_length


def after_trl(dataset: "Dataset | None", given: int, max_length: int | None) -> AfterTrl:
    """Rows TRL kept out of the `given` ones, and how many of those its collator will cut at max_length."""
    if dataset is None:
        return AfterTrl(rows=0, dropped=given, truncated=0)
    columns = dataset.column_names
    if "completion_ids" in columns:  # KTO
        lengths = [len(p) + len(c) for p, c in zip(dataset["prompt_ids"], dataset["completion_ids"])]
    elif "prompt_ids" in columns:  # DPO family
        lengths = [
            len(p) + max(len(c), len(r))
            for p, c, r in zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"])
        ]
    elif "chosen_ids" in columns:  # reward: TRL filtered out the rows longer than max_length
        lengths = [max(len(c), len(r)) for c, r in zip(dataset["chosen_ids"], dataset["rejected_ids"])]
    else:
        lengths = []
    truncated = sum(n > max_length for n in lengths) if max_length else 0
    return AfterTrl(rows=len(dataset), dropped=given - len(dataset), truncated=truncated)


def local_tokenizer(spec: ModelSpec) -> Any:
    """The model's tokenizer from local files only (a web request never downloads one), or None."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.path_or_id, local_files_only=True)
    except (OSError, ValueError):
        return None
    if spec.chat_template:
        tokenizer.chat_template = spec.chat_template
    return tokenizer


def estimate_for_form(
    snapshot: Snapshot, spec: ModelSpec, method: str, max_length: int, sample: int = 200
) -> "LengthEstimate | None":
    """LengthEstimate for the fine-tune form, or None when the tokenizer is not on this machine or
    the method reads no token rows (reward_mixture trains heads on sentence embeddings)."""
    if method not in FORMAT:
        return None
    tokenizer = local_tokenizer(spec)
    if tokenizer is None:
        return None
    return estimate_lengths(snapshot, method, tokenizer, max_length, sample=sample)


def chat_template_renderer(spec: ModelSpec) -> Callable[..., Any] | None:
    """A `render` for curation.formats' text formats: the model's chat template, applied as TRL's
    `apply_chat_template` turns conversational rows into text ones; None without a local template."""
    from functools import partial

    from trl.data_utils import apply_chat_template

    tokenizer = local_tokenizer(spec)
    if tokenizer is None or not tokenizer.chat_template:
        return None
    return partial(apply_chat_template, processing_class=tokenizer)
