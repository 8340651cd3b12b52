"""Item features the router learns from (Miranda et al. 2024 use lexical, length, similarity and
prompt-category features): lengths and their ratio, lexical overlap of the two responses (ROUGE-L,
BLEU), MiniLM embedding similarity, prompt tags (keyword heuristics, or an LM tagger when a judge
has `parameters.tagger`), and judge signals (confidence, jury disagreement, swap inconsistency, and
the share of judges whose own model family wrote one of the two responses: self-preference risk).

Computed in chunks of items, in a worker (workers.tasks.routing.compute_features) that writes its
progress to the run. Each distinct text is embedded once, ever: workers.ml.embeddings caches vectors by
content hash, so prompts shared by many pairs, and re-runs, cost a lookup. The lexical features of a
chunk are computed over arrays (BLEU's n-gram counts with numpy; `pair_overlap`), equal to the
per-item definitions below (`text_features`, kept as the reference and for single items).
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from django.conf import settings
from rapidfuzz.distance import LCSseq

from annotate.judging.backends import RequestFailed, backend_for
from annotate.kinds.replies import json_objects
from annotate.models import (
    Annotation,
    AnnotationStatus,
    FeedbackKind,
    Item,
    LMJudge,
    Project,
    judge_label_q,
)
from curation.families import family_of
from curation.models import ItemFeatures
from workers.ml import embeddings
from workers.ml.loading import device
from workers.ml.static_embeddings import StaticMiniLM

CHUNK = 1000  # items per read, embed call, upsert and progress tick
# Similarity features read the first 128 word pieces of each text: the gist. An encoder's cost grows
# with the tokens it reads, and on a CPU 128 costs about half of 256; about 80 % of the prompts and
# responses in the shared AlpacaEval data are shorter than 128 anyway (hh-rlhf conversations are
# longer and are cut).
EMBED_MAX_TOKENS = 128
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

# --- prompt tags ------------------------------------------------------------------------------

TAG_DIMENSIONS = {
    "domain": ["code", "math", "science", "health", "legal", "finance", "creative", "history", "general"],
    "task_type": [
        "coding",
        "reasoning",
        "open_qa",
        "closed_qa",
        "brainstorm",
        "generation",
        "rewrite",
        "summarize",
        "extract",
        "advice",
        "chat",
    ],
    "complexity": ["simple", "moderate", "complex"],
    "safety_concern": ["none", "low", "high"],
    "open_endedness": ["low", "moderate", "high"],
    "format_constraints": ["none", "some"],
}
_KEYWORDS = {
    "domain": [
        (
            "code",
            r"\b(python|javascript|java|c\+\+|rust|sql|function|code|bug|compile|regex|api|class|script|def |html|css)\b|```",
        ),
        (
            "math",
            r"\b(calculate|equation|integral|derivative|probability|solve|algebra|prime|sum of|\d+\s*[-+*/^]\s*\d+)\b",
        ),
        ("health", r"\b(symptom|doctor|medic|disease|diet|health|pain|drug|dose|therapy|vaccine)\w*"),
        ("legal", r"\b(law|legal|court|contract|sue|lawyer|rights|tenant|copyright)\w*"),
        ("finance", r"\b(invest|stock|tax|loan|budget|money|bank|crypto|mortgage|salary)\w*"),
        ("science", r"\b(physics|chemistry|biology|atom|molecule|cell|planet|energy|evolution|quantum)\w*"),
        ("history", r"\b(history|historical|war|century|empire|ancient|revolution)\w*"),
        ("creative", r"\b(poem|story|song|lyrics|novel|haiku|fiction|character|screenplay)\w*"),
    ],
    "task_type": [
        ("coding", r"\b(write|fix|debug|implement|refactor)\b.*\b(code|function|script|program|query)\b"),
        ("summarize", r"\b(summari[sz]e|tl;?dr|summary|key points)\b"),
        ("rewrite", r"\b(rewrite|rephrase|paraphrase|proofread|translate|improve this|make it)\b"),
        ("extract", r"\b(extract|classify|categori[sz]e|label|list all|identify the)\b"),
        ("brainstorm", r"\b(ideas|brainstorm|suggest|names for|ways to)\b"),
        ("generation", r"\b(write|compose|draft|create|generate)\b"),
        ("reasoning", r"\b(why|prove|reason|step by step|explain how|logic|puzzle|riddle)\b"),
        ("advice", r"\b(should i|advice|recommend|how can i|how do i|help me)\b"),
        ("closed_qa", r"^(what|who|when|where|which|how many|how much|is|are|does|did)\b"),
        ("open_qa", r"\?\s*$"),
    ],
}
_SAFETY_HIGH = re.compile(
    r"\b(kill|bomb|weapon|suicide|self-harm|explosive|hack into|steal|poison|meth|overdose|terror|malware)\w*", re.I
)
_SAFETY_LOW = re.compile(
    r"\b(drug|alcohol|gun|hate|violent|violence|password|illegal|weapon|racist|sex|gambl)\w*", re.I
)
_FORMAT = re.compile(
    r"\b(\d+\s+(words|sentences|paragraphs|bullet|items|lines)|bullet points?|json|table|markdown|csv|"
    r"numbered list|in (one|two|three) (sentence|word|paragraph)s?|at most|no more than|less than \d+|format)\b",
    re.I,
)
_OPEN_HIGH = re.compile(r"\b(story|poem|ideas|opinion|imagine|creative|brainstorm|what do you think|essay)\b", re.I)


def heuristic_tags(text: str) -> dict[str, str]:
    """Prompt category tags from keywords: cheap, deterministic, good enough to route by."""
    t = text.lower()
    tags = {}
    for dimension, rules in _KEYWORDS.items():
        fallback = "general" if dimension == "domain" else "chat"
        tags[dimension] = next((name for name, rx in rules if re.search(rx, t, re.M)), fallback)
    words = len(t.split())
    parts = len(re.findall(r"\?|\b(and then|also|additionally|first|second|finally)\b|^\s*[-*\d]+[.)]\s", t, re.M))
    tags["complexity"] = (
        "complex" if words > 120 or parts >= 3 else ("moderate" if words > 30 or parts == 2 else "simple")
    )
    tags["safety_concern"] = "high" if _SAFETY_HIGH.search(t) else ("low" if _SAFETY_LOW.search(t) else "none")
    tags["format_constraints"] = "some" if _FORMAT.search(t) else "none"
    if _OPEN_HIGH.search(t) or tags["task_type"] in ("brainstorm", "generation"):
        tags["open_endedness"] = "high"
    elif tags["task_type"] in ("closed_qa", "extract", "coding") or tags["domain"] == "math":
        tags["open_endedness"] = "low"
    else:
        tags["open_endedness"] = "moderate"
    return tags


TAGGER_PROMPT = (
    "Classify the user's request. Reply with one JSON object with exactly these keys and one allowed value each:\n"
    + "\n".join(f'- "{d}": one of {", ".join(v)}' for d, v in TAG_DIMENSIONS.items())
    + "\n\n[Request]\n{text}"
)


def lm_tags(judge: LMJudge, texts: Sequence[str], backend: Any = None) -> list[dict[str, str]]:
    """Tags from an LM tagger; a dimension it leaves out or answers off-list falls back to the keyword
    rule for that prompt (recorded in `_source`)."""

    owned, backend = backend is None, backend or backend_for(judge)
    try:
        replies = backend.generate([[{"role": "user", "content": TAGGER_PROMPT.replace("{text}", t)}] for t in texts])
    finally:
        if owned and hasattr(backend, "close"):
            backend.close()
    out = []
    for text, reply in zip(texts, replies):
        tags, source = heuristic_tags(text), {}
        objects = [] if isinstance(reply, RequestFailed) else json_objects(reply)
        answer: dict[str, Any] = next((o for o in objects if any(k in o for k in TAG_DIMENSIONS)), {})
        for dimension, allowed in TAG_DIMENSIONS.items():
            value = str(answer.get(dimension, "")).strip().lower()
            if value in allowed:
                tags[dimension], source[dimension] = value, "lm"
        tags["_source"] = "lm" if len(source) == len(TAG_DIMENSIONS) else ("mixed" if source else "keywords")
        out.append(tags)
    return out


# --- text similarity --------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def rouge_l(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F1 of two token lists (LCS by rapidfuzz)."""
    if not a or not b:
        return 0.0
    lcs = LCSseq.similarity(a, b)
    p, r = lcs / len(b), lcs / len(a)
    return 0.0 if lcs == 0 else 2 * p * r / (p + r)


def bleu(reference: Sequence[str], candidate: Sequence[str], max_n: int = 4) -> float:
    """Sentence BLEU with add-one smoothing (Lin & Och 2004) and the brevity penalty."""
    if not reference or not candidate:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        cand = Counter(tuple(candidate[i : i + n]) for i in range(len(candidate) - n + 1))
        ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        total = sum(cand.values())
        matched = sum(min(c, ref[g]) for g, c in cand.items())
        logs.append(math.log((matched + 1) / (total + 1)) if n > 1 else math.log(max(matched, 1e-9) / max(total, 1)))
    bp = 1.0 if len(candidate) > len(reference) else math.exp(1 - len(reference) / len(candidate))
    return bp * math.exp(sum(logs) / max_n)


FEATURE_EMBEDDINGS = ("auto", "static", "contextual")


def feature_encoder(choice: str | None = None) -> embeddings.Encoder:
    """The encoder similarity features use (its name keys the embedding cache, and is recorded in the
    run): `TANDEM_FEATURE_EMBEDDINGS` = contextual (MiniLM), static (MiniLM distilled into token vectors,
    workers.ml.static_embeddings) or auto (the default): contextual on a GPU, static on a CPU, where
    the contextual model reads about 25 texts a second on 2 cores and 100k fresh items would take hours."""
    choice = choice or settings.FEATURE_EMBEDDINGS
    if choice not in FEATURE_EMBEDDINGS:
        raise ValueError(f"TANDEM_FEATURE_EMBEDDINGS={choice!r}: one of {', '.join(FEATURE_EMBEDDINGS)}")
    if choice == "auto":
        choice = "static" if device() == "cpu" else "contextual"
    if choice == "static":
        return StaticMiniLM(EMBED_MAX_TOKENS)
    return embeddings.MiniLM(EMBED_MAX_TOKENS)


# --- the same over arrays ---------------------------------------------------------------------


def _ngram_ids(tokens_per_text, max_n):
    """For n = 1..max_n: (owner text, n-gram id) of every n-gram position inside one text. Ids are
    exact, not hashed: tokens get ids from one vocabulary, and an n-gram's id relabels the pair
    (id of the (n−1)-gram at the same start, id of its last token)."""
    vocabulary: dict[str, int] = {}
    ids = np.fromiter(
        (vocabulary.setdefault(t, len(vocabulary)) for toks in tokens_per_text for t in toks), dtype=np.int64
    )
    lengths = np.fromiter((len(t) for t in tokens_per_text), dtype=np.int64, count=len(tokens_per_text))
    owner = np.repeat(np.arange(len(tokens_per_text), dtype=np.int64), lengths)
    gram, out = ids, [(owner, ids)]
    for n in range(2, max_n + 1):
        m = max(len(ids) - n + 1, 0)  # n-gram start positions in the flat token array
        inside = owner[:m] == owner[n - 1 : n - 1 + m]  # start and end in the same text
        keys = gram[:m] * (len(vocabulary) + 1) + ids[n - 1 : n - 1 + m]
        gram = np.full(m, -1, dtype=np.int64)
        gram[inside] = np.unique(keys[inside], return_inverse=True)[1].reshape(-1)
        out.append((owner[:m][inside], gram[inside]))
    return out


def _clipped_matches(a_grams, b_grams, n_items):
    """Per item: Σ_g min(count_a(g), count_b(g)) (symmetric, so one pass serves BLEU both ways)."""
    (owner_a, gram_a), (owner_b, gram_b) = a_grams, b_grams
    width = int(max(gram_a.max(initial=0), gram_b.max(initial=0))) + 1
    keys_a, count_a = np.unique(owner_a * width + gram_a, return_counts=True)
    keys_b, count_b = np.unique(owner_b * width + gram_b, return_counts=True)
    common, ia, ib = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
    return np.bincount(common // width, weights=np.minimum(count_a[ia], count_b[ib]), minlength=n_items)


def pair_overlap(
    tokens_a: Sequence[Sequence[str]], tokens_b: Sequence[Sequence[str]], max_n: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """ROUGE-L F1 and symmetric BLEU, (bleu(a, b) + bleu(b, a)) / 2, for many pairs at once: equal
    to `rouge_l` and `bleu` per pair. Returns (rouge, bleu) float arrays."""
    n = len(tokens_a)
    grams = _ngram_ids(list(tokens_a) + list(tokens_b), max_n)
    len_a = np.fromiter((len(t) for t in tokens_a), dtype=np.float64, count=n)
    len_b = np.fromiter((len(t) for t in tokens_b), dtype=np.float64, count=n)
    log_a, log_b = np.zeros(n), np.zeros(n)  # Σ_n log precision of a as candidate, of b as candidate
    for k, (owner, gram) in enumerate(grams, start=1):
        side_b = owner >= n
        matched = _clipped_matches((owner[~side_b], gram[~side_b]), (owner[side_b] - n, gram[side_b]), n)
        total_a, total_b = np.maximum(len_a - k + 1, 0), np.maximum(len_b - k + 1, 0)
        with np.errstate(divide="ignore"):
            if k == 1:
                log_a += np.log(np.maximum(matched, 1e-9) / np.maximum(total_a, 1))
                log_b += np.log(np.maximum(matched, 1e-9) / np.maximum(total_b, 1))
            else:
                log_a += np.log((matched + 1) / (total_a + 1))
                log_b += np.log((matched + 1) / (total_b + 1))
    both = (len_a > 0) & (len_b > 0)
    safe_a, safe_b = np.where(both, len_a, 1), np.where(both, len_b, 1)
    # bleu(reference=b, candidate=a): brevity penalty when a is not longer than b
    bp_a = np.where(len_a > len_b, 1.0, np.exp(1 - safe_b / safe_a))
    bp_b = np.where(len_b > len_a, 1.0, np.exp(1 - safe_a / safe_b))
    bleu_ab = np.where(both, bp_a * np.exp(log_a / max_n), 0.0)
    bleu_ba = np.where(both, bp_b * np.exp(log_b / max_n), 0.0)
    rouge = np.fromiter((rouge_l(a, b) for a, b in zip(tokens_a, tokens_b)), dtype=np.float64, count=n)
    return rouge, (bleu_ab + bleu_ba) / 2


# --- judge signals ----------------------------------------------------------------------------


def _sign(x):
    return (x > 0) - (x < 0)


JUDGE_SIGNALS = (
    "judge_count",
    "judge_unparsed",
    "judge_confidence",
    "judge_pref_mean",
    "judge_pref_abs",
    "jury_std",
    "jury_disagreement",
    "swap_inconsistency",
    "judge_own_family",
)


def judge_signals(
    item_ids: Iterable[int] | None = None, project: Project | None = None
) -> dict[int, dict[str, float | None]]:
    """Per item (of `item_ids`, or every item of `project`): judge confidence, jury disagreement,
    swap inconsistency, unparsed share (the keys of JUDGE_SIGNALS). Items no judge labelled are absent."""
    judged = Annotation.objects.filter(judge_label_q())  # judges run here, and imported model labels
    judged = (
        judged.filter(item__project=project)
        if project is not None
        else judged.filter(item_id__in=[] if item_ids is None else list(item_ids))
    )
    rows = judged.values_list(
        "item_id",
        "status",
        "preference",
        "thumbs",
        "confidence",
        "details__swap_consistent",
        "annotator__judge__family",
        "item__response_a__model_name",
        "item__response_b__model_name",
    )
    by_item: dict[int, list[tuple[str, int | None, str, float | None, bool | None]]] = {}
    own: dict[int, list[bool]] = {}
    for item_id, status, pref, thumbs, conf, consistent, family, model_a, model_b in rows:
        by_item.setdefault(item_id, []).append((status, pref, thumbs, conf, consistent))
        # a judge with a stake: its declared family wrote exactly one of the two responses
        stake = (
            bool(family) and model_b is not None and (family_of(model_a) == family) != (family_of(model_b) == family)
        )
        own.setdefault(item_id, []).append(stake)
    out = {}
    for item_id, labels in by_item.items():
        ok = [l for l in labels if l[0] == AnnotationStatus.OK]
        prefs = [l[1] for l in ok if l[1] is not None]
        votes = [_sign(p) for p in prefs] or [1 if l[2] == "up" else -1 for l in ok if l[2]]
        confs = [l[3] for l in ok if l[3] is not None]
        swaps = [l[4] for l in ok if l[4] is not None]
        majority = max(Counter(votes).values()) if votes else 0
        out[item_id] = {
            "judge_count": len(labels),
            "judge_unparsed": 1 - len(ok) / len(labels),
            "judge_confidence": float(np.mean(confs)) if confs else None,
            "judge_pref_mean": float(np.mean(prefs)) if prefs else None,
            "judge_pref_abs": abs(float(np.mean(prefs))) if prefs else None,
            "jury_std": float(np.std(prefs)) if len(prefs) > 1 else (0.0 if prefs else None),
            "jury_disagreement": 1 - majority / len(votes) if votes else None,
            "swap_inconsistency": float(np.mean([not s for s in swaps])) if swaps else None,
            "judge_own_family": float(np.mean(own[item_id])),
        }
    return out


# --- computing and storing --------------------------------------------------------------------


def text_features(
    prompt: str,
    a: str,
    b: str | None = None,
    emb: dict[str, np.ndarray] | None = None,
    multi_turn: bool = False,
) -> dict[str, float]:
    """Numeric features from texts; `emb` maps role → unit vector (prompt, a, b) or is None."""
    prompt_tokens, ta = tokens(prompt), tokens(a)
    values: dict[str, float] = {"len_prompt": len(prompt_tokens), "len_a": len(ta), "multi_turn": int(bool(multi_turn))}
    if emb is not None:
        values["sim_prompt_a"] = float(emb["prompt"] @ emb["a"])
    if b is not None:
        tb = tokens(b)
        short, long_ = sorted((len(ta), len(tb)))
        values.update(
            len_b=len(tb),
            len_ratio=(long_ + 1) / (short + 1),
            len_log_ratio_ab=math.log((len(ta) + 1) / (len(tb) + 1)),
            rouge_l=rouge_l(ta, tb),
            bleu=(bleu(ta, tb) + bleu(tb, ta)) / 2,
        )
        if emb is not None:
            values.update(sim_ab=float(emb["a"] @ emb["b"]), sim_prompt_b=float(emb["prompt"] @ emb["b"]))
            values["sim_prompt_gap"] = values["sim_prompt_a"] - values["sim_prompt_b"]
    return values


def item_features(item, emb, signals):
    pairwise = item.kind == FeedbackKind.PAIRWISE
    values = text_features(
        item.prompt.text,
        item.response_a.text,
        item.response_b.text if pairwise else None,
        emb,
        multi_turn=bool(item.prompt.messages) and len(item.prompt.messages) > 1,
    )
    values.update(signals or {})
    return values


@dataclass
class FeatureCounts:
    """What a feature run did, for its run page: items, the texts they hold, and how many of those
    were found in the embedding cache or encoded (per chunk, so a prompt shared across chunks is
    encoded once and then counted as cached)."""

    items: int = 0
    texts: int = 0
    distinct: int = 0
    cached: int = 0
    embedded: int = 0
    encoder: str = ""  # the embedding encoder's name (contextual or static MiniLM, its token limit)

    def metrics(self) -> dict[str, int | str]:
        return asdict(self)


def chunk_features(
    rows: Sequence[tuple[str, str, str | None, bool]], vectors: np.ndarray | None
) -> list[dict[str, float]]:
    """Feature dicts for a chunk of items. rows: (prompt, a, b or None, multi_turn); vectors:
    (n, 3, d) unit rows for prompt, a, b (or None). The same values as `text_features` per item."""
    token_memo: dict[str, list[str]] = {}

    def toks(text):
        found = token_memo.get(text)
        if found is None:
            found = token_memo[text] = tokens(text)
        return found

    tp, ta = [toks(r[0]) for r in rows], [toks(r[1]) for r in rows]
    pairs = [i for i, r in enumerate(rows) if r[2] is not None]
    tb = {i: toks(rows[i][2]) for i in pairs}
    rouge, bleu_ = pair_overlap([ta[i] for i in pairs], [tb[i] for i in pairs]) if pairs else (np.zeros(0), np.zeros(0))
    overlap = {i: (float(r), float(b)) for i, r, b in zip(pairs, rouge, bleu_)}
    if vectors is not None:
        sim_pa = np.einsum("ij,ij->i", vectors[:, 0], vectors[:, 1]).tolist()
        sim_pb = np.einsum("ij,ij->i", vectors[:, 0], vectors[:, 2]).tolist()
        sim_ab = np.einsum("ij,ij->i", vectors[:, 1], vectors[:, 2]).tolist()
    out = []
    for i, (_, _, b, multi_turn) in enumerate(rows):
        la = len(ta[i])
        values: dict[str, float] = {"len_prompt": len(tp[i]), "len_a": la, "multi_turn": int(bool(multi_turn))}
        if vectors is not None:
            values["sim_prompt_a"] = sim_pa[i]
        if b is not None:
            lb = len(tb[i])
            short, long_ = sorted((la, lb))
            values.update(
                len_b=lb,
                len_ratio=(long_ + 1) / (short + 1),
                len_log_ratio_ab=math.log((la + 1) / (lb + 1)),
                rouge_l=overlap[i][0],
                bleu=overlap[i][1],
            )
            if vectors is not None:
                values.update(sim_ab=sim_ab[i], sim_prompt_b=sim_pb[i])
                values["sim_prompt_gap"] = values["sim_prompt_a"] - values["sim_prompt_b"]
        out.append(values)
    return out


def compute_features(
    project: Project,
    item_ids: Iterable[int] | None = None,
    progress: Callable[[int, int], object] | None = None,
    tagger: LMJudge | None = None,
    chunk: int = CHUNK,
    counts: FeatureCounts | None = None,
    encoder: embeddings.Encoder | None = None,
) -> int:
    """Compute and upsert ItemFeatures for the project's items; returns the number of items.
    progress(done, total) after each chunk; `counts` (a FeatureCounts) is filled as it goes."""
    counts = FeatureCounts() if counts is None else counts
    qs = Item.objects.filter(project=project).order_by("pk")
    if item_ids is not None:
        qs = qs.filter(pk__in=item_ids)
    ids = list(qs.values_list("pk", flat=True))
    if tagger is None:
        tagger = project.judges.filter(parameters__tagger=True).first()
    encoder = encoder or feature_encoder()
    counts.encoder = encoder.name
    tag_cache: dict[str, dict[str, str]] = {}  # by prompt text: a prompt shared by many items is tagged once
    if progress:
        progress(0, len(ids))
    for start in range(0, len(ids), chunk):
        batch = list(
            Item.objects.filter(pk__in=ids[start : start + chunk])
            .order_by("pk")
            .values_list("pk", "kind", "prompt__text", "prompt__messages", "response_a__text", "response_b__text")
        )
        rows = [
            (p, a, b if kind == FeedbackKind.PAIRWISE else None, bool(messages and len(messages) > 1))
            for _, kind, p, messages, a, b in batch
        ]
        # binary items embed response A in B's slot (the vector is looked up, never encoded twice)
        texts = [t for p, a, b, _ in rows for t in (p, a, a if b is None else b)]

        def encoding(done, total, start=start, size=len(batch)):  # ticks inside a chunk, while its texts are encoded  # noqa: B008
            if progress and done < total:
                progress(start + size * done // total, len(ids))

        found = embeddings.lookup(texts, max_tokens=EMBED_MAX_TOKENS, encoder=encoder, on_block=encoding)
        counts.texts += found.texts
        counts.distinct += found.distinct
        counts.cached += found.cached
        counts.embedded += found.encoded
        values = chunk_features(rows, found.vectors.reshape(len(rows), 3, -1))
        new_prompts = list(dict.fromkeys(r[0] for r in rows if r[0] not in tag_cache))
        if new_prompts:
            tagged = lm_tags(tagger, new_prompts) if tagger else [heuristic_tags(t) for t in new_prompts]
            tag_cache.update(zip(new_prompts, tagged))
        signals = judge_signals([pk for pk, *_ in batch])
        out = []
        for (pk, *_), row, v in zip(batch, rows, values):
            with_signals = {**v, **(signals.get(pk) or {})}
            out.append(ItemFeatures(item_id=pk, values=with_signals, tags=tag_cache[row[0]], encoder=encoder.name))
        ItemFeatures.objects.bulk_create(
            out,
            update_conflicts=True,
            unique_fields=["item"],
            update_fields=["values", "tags", "encoder", "computed_at"],
        )
        counts.items += len(batch)
        if progress:
            progress(min(start + chunk, len(ids)), len(ids))
    return len(ids)
