"""Item features the router learns from (Miranda et al. 2024 use lexical, length, similarity and
prompt-category features): lengths and their ratio, lexical overlap of the two responses (ROUGE-L,
BLEU), MiniLM embedding similarity, prompt tags (keyword heuristics, or an LM tagger when a judge
has `parameters.tagger`), and judge signals (confidence, jury disagreement, swap inconsistency, and
the share of judges whose own model family wrote one of the two responses: self-preference risk).

Computed in chunks: texts are embedded once per chunk in batches, features upserted in bulk.
"""
import math
import re
from collections import Counter

import numpy as np
from rapidfuzz.distance import LCSseq

from annotate.models import Annotation, AnnotationStatus, AnnotatorKind, FeedbackKind, Item
from workers import embeddings

from .families import family_of
from .models import ItemFeatures

CHUNK = 2000
EMBED_MAX_TOKENS = 128
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

# --- prompt tags ------------------------------------------------------------------------------

TAG_DIMENSIONS = {
    "domain": ["code", "math", "science", "health", "legal", "finance", "creative", "history", "general"],
    "task_type": ["coding", "reasoning", "open_qa", "closed_qa", "brainstorm", "generation", "rewrite", "summarize",
                  "extract", "advice", "chat"],
    "complexity": ["simple", "moderate", "complex"],
    "safety_concern": ["none", "low", "high"],
    "open_endedness": ["low", "moderate", "high"],
    "format_constraints": ["none", "some"],
}
_KEYWORDS = {
    "domain": [
        ("code", r"\b(python|javascript|java|c\+\+|rust|sql|function|code|bug|compile|regex|api|class|script|def |html|css)\b|```"),
        ("math", r"\b(calculate|equation|integral|derivative|probability|solve|algebra|prime|sum of|\d+\s*[-+*/^]\s*\d+)\b"),
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
_SAFETY_HIGH = re.compile(r"\b(kill|bomb|weapon|suicide|self-harm|explosive|hack into|steal|poison|meth|overdose|terror|malware)\w*", re.I)
_SAFETY_LOW = re.compile(r"\b(drug|alcohol|gun|hate|violent|violence|password|illegal|weapon|racist|sex|gambl)\w*", re.I)
_FORMAT = re.compile(r"\b(\d+\s+(words|sentences|paragraphs|bullet|items|lines)|bullet points?|json|table|markdown|csv|"
                     r"numbered list|in (one|two|three) (sentence|word|paragraph)s?|at most|no more than|less than \d+|format)\b", re.I)
_OPEN_HIGH = re.compile(r"\b(story|poem|ideas|opinion|imagine|creative|brainstorm|what do you think|essay)\b", re.I)


def heuristic_tags(text):
    """Prompt category tags from keywords: cheap, deterministic, good enough to route by."""
    t = text.lower()
    tags = {}
    for dimension, rules in _KEYWORDS.items():
        fallback = "general" if dimension == "domain" else "chat"
        tags[dimension] = next((name for name, rx in rules if re.search(rx, t, re.M)), fallback)
    words = len(t.split())
    parts = len(re.findall(r"\?|\b(and then|also|additionally|first|second|finally)\b|^\s*[-*\d]+[.)]\s", t, re.M))
    tags["complexity"] = "complex" if words > 120 or parts >= 3 else ("moderate" if words > 30 or parts == 2 else "simple")
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


def lm_tags(judge, texts, backend=None):
    """Tags from an LM tagger; a dimension it leaves out or answers off-list falls back to the keyword
    rule for that prompt (recorded in `_source`)."""
    from annotate.judging.backends import RequestFailed, backend_for
    from annotate.judging.parsing import json_objects

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
        answer = next((o for o in objects if any(k in o for k in TAG_DIMENSIONS)), {})
        for dimension, allowed in TAG_DIMENSIONS.items():
            value = str(answer.get(dimension, "")).strip().lower()
            if value in allowed:
                tags[dimension], source[dimension] = value, "lm"
        tags["_source"] = "lm" if len(source) == len(TAG_DIMENSIONS) else ("mixed" if source else "keywords")
        out.append(tags)
    return out


# --- text similarity --------------------------------------------------------------------------

def tokens(text):
    return _TOKEN.findall(text.lower())


def rouge_l(a, b):
    """ROUGE-L F1 of two token lists (LCS by rapidfuzz)."""
    if not a or not b:
        return 0.0
    lcs = LCSseq.similarity(a, b)
    p, r = lcs / len(b), lcs / len(a)
    return 0.0 if lcs == 0 else 2 * p * r / (p + r)


def bleu(reference, candidate, max_n=4):
    """Sentence BLEU with add-one smoothing (Lin & Och 2004) and the brevity penalty."""
    if not reference or not candidate:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        cand = Counter(tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1))
        ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
        total = sum(cand.values())
        matched = sum(min(c, ref[g]) for g, c in cand.items())
        logs.append(math.log((matched + 1) / (total + 1)) if n > 1 else math.log(max(matched, 1e-9) / max(total, 1)))
    bp = 1.0 if len(candidate) > len(reference) else math.exp(1 - len(reference) / len(candidate))
    return bp * math.exp(sum(logs) / max_n)


def embedder():
    return embeddings.model()


def embed(texts, batch_size=32):
    """Unit-norm embeddings for similarity features: the gist is enough, so 128 tokens."""
    return embeddings.embed(texts, max_tokens=EMBED_MAX_TOKENS, batch_size=batch_size)


# --- judge signals ----------------------------------------------------------------------------

def _sign(x):
    return (x > 0) - (x < 0)


def judge_signals(item_ids):
    """Per item: judge confidence, jury disagreement, swap inconsistency, unparsed share."""
    rows = Annotation.objects.filter(item_id__in=item_ids, annotator__kind=AnnotatorKind.JUDGE).values_list(
        "item_id", "status", "preference", "thumbs", "confidence", "details__swap_consistent",
        "annotator__judge__family", "item__response_a__model_name", "item__response_b__model_name")
    by_item, own = {}, {}
    for item_id, status, pref, thumbs, conf, consistent, family, model_a, model_b in rows:
        by_item.setdefault(item_id, []).append((status, pref, thumbs, conf, consistent))
        # a judge with a stake: its declared family wrote exactly one of the two responses
        stake = bool(family) and model_b is not None and (family_of(model_a) == family) != (family_of(model_b) == family)
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

def text_features(prompt, a, b=None, emb=None, multi_turn=False):
    """Numeric features from texts; `emb` maps role → unit vector (prompt, a, b) or is None."""
    prompt_tokens, ta = tokens(prompt), tokens(a)
    values = {"len_prompt": len(prompt_tokens), "len_a": len(ta), "multi_turn": int(bool(multi_turn))}
    if emb is not None:
        values["sim_prompt_a"] = float(emb["prompt"] @ emb["a"])
    if b is not None:
        tb = tokens(b)
        short, long_ = sorted((len(ta), len(tb)))
        values.update(len_b=len(tb), len_ratio=(long_ + 1) / (short + 1), len_log_ratio_ab=math.log((len(ta) + 1) / (len(tb) + 1)),
                      rouge_l=rouge_l(ta, tb), bleu=(bleu(ta, tb) + bleu(tb, ta)) / 2)
        if emb is not None:
            values.update(sim_ab=float(emb["a"] @ emb["b"]), sim_prompt_b=float(emb["prompt"] @ emb["b"]))
            values["sim_prompt_gap"] = values["sim_prompt_a"] - values["sim_prompt_b"]
    return values


def item_features(item, emb, signals):
    pairwise = item.kind == FeedbackKind.PAIRWISE
    values = text_features(item.prompt.text, item.response_a.text, item.response_b.text if pairwise else None, emb,
                           multi_turn=bool(item.prompt.messages) and len(item.prompt.messages) > 1)
    values.update(signals or {})
    return values


def compute_features(project, item_ids=None, progress=None, tagger=None, chunk=CHUNK):
    """Compute and upsert ItemFeatures for the project's items; returns the number of items."""
    qs = Item.objects.filter(project=project).order_by("pk")
    if item_ids is not None:
        qs = qs.filter(pk__in=item_ids)
    ids = list(qs.values_list("pk", flat=True))
    if tagger is None:
        tagger = project.judges.filter(parameters__tagger=True).first()
    tag_cache = {}
    if progress:
        progress(0, len(ids))
    for start in range(0, len(ids), chunk):
        batch = list(Item.objects.filter(pk__in=ids[start:start + chunk]).select_related("prompt", "response_a", "response_b").order_by("pk"))
        texts = [(i.prompt.text, i.response_a.text, i.response_b.text if i.response_b_id else i.response_a.text) for i in batch]
        vectors = embed([t for triple in texts for t in triple]).reshape(len(batch), 3, -1)
        new_prompts = {i.prompt_id: i.prompt.text for i in batch if i.prompt_id not in tag_cache}
        if new_prompts:
            texts_p = list(new_prompts.values())
            found = lm_tags(tagger, texts_p) if tagger else [heuristic_tags(t) for t in texts_p]
            tag_cache.update(zip(new_prompts, found))
        signals = judge_signals([i.pk for i in batch])
        rows = []
        for item, v in zip(batch, vectors):
            emb = {"prompt": v[0], "a": v[1], "b": v[2]}
            rows.append(ItemFeatures(item=item, values=item_features(item, emb, signals.get(item.pk)),
                                     tags=tag_cache[item.prompt_id]))
        ItemFeatures.objects.bulk_create(rows, update_conflicts=True, unique_fields=["item"], update_fields=["values", "tags", "computed_at"])
        if progress:
            progress(min(start + chunk, len(ids)), len(ids))
    return len(ids)
