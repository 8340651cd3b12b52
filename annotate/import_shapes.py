"""Row shapes people actually have, each turned into one `ParsedRow`: a prompt, its responses, the
items built from them and any label the file already carries.

Shapes (auto-detected from the columns, or named explicitly):
  preference   prompt/chosen/rejected — TRL (explicit prompt, text or conversational) and hh-rlhf
               (no prompt column; chosen/rejected are "\\n\\nHuman: … \\n\\nAssistant: …" transcripts)
  completions  prompt/completions[] — UltraFeedback-like {text|response, model, score}; pairs built
               per the project's pair strategy
  helpsteer2   prompt/response_1/response_2[/preference_strength −3..3, negative: response_1 better]
               [/individual_preference or all_preferences_unprocessed: one {strength, justification}
               per annotator — HelpSteer2-Preference's individual annotators, each imported as a
               human source "<source> · annotator N" (N: their position in the row, not an identity);
               the aggregate strength is then kept on the item, not imported as another label]
  binary       prompt/response (or completion)[/label true/false][/edited] — TRL's unpaired format;
               as edit items, an `edited` column is imported as the source's edit
  messages     messages=[…, {"role": "assistant", …}] — the last assistant turn is the response
  ranking      prompt/responses[]/ranking[] — 3–9 responses (text, or {text, model}) and, optionally,
               each one's rank (1 best, equal ranks tie): a ranking item, its ranks the source's label.
               A `completions` file imported as ranking (--as ranking) makes one ranking item of all
               its completions, ranked by their scores (UltraFeedback's ratings; equal scores tie)
  helpsteer2_ratings  prompt/response/helpfulness/correctness/coherence/complexity/verbosity — HelpSteer2's
               own release: 0–4 Likert ratings of one response, one label per row from the source
               (people's ratings: imported as human labels); the project's aspects name the columns read
  multipref    text/completion_a/completion_b[/model_a/model_b][/normal_worker_annotations]
               [/expert_worker_annotations] — allenai/multipref as released (Hybrid Preferences' data):
               every worker's `overall_pref` ("A-is-clearly-better" … "Tie" … "B-is-clearly-better")
               is a human label of its own source "<source> · normal|expert <evaluator or N>"; the
               per-aspect preferences, confidence and reasons are kept in the label's details
  alpaca_eval  instruction/output_1/output_2[/generator_1/2][/preference][/annotator] — AlpacaEval's
               annotations: a judge's verdict (1, 2, 0 for a draw, 1..2 from a weighted judge),
               imported as the label of a source named after `annotator`
"""

import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from annotate import import_values as v
from annotate.content import prompt_hash
from annotate.edits import derive
from annotate.kinds.likert import HELPSTEER2_ASPECTS

SHAPES = (
    "preference",
    "completions",
    "helpsteer2",
    "helpsteer2_ratings",
    "binary",
    "messages",
    "alpaca_eval",
    "ranking",
    "multipref",
)
PAIRWISE_SHAPES = ("preference", "completions", "helpsteer2", "alpaca_eval", "multipref")
RANKABLE_SHAPES = ("completions",)  # shapes that make a ranking item when imported as ranking
RANKING_MIN, RANKING_MAX = 3, 9
LIKERT_SHAPES = ("helpsteer2_ratings",)
COLUMNS = {
    "preference": {"prompt", "chosen", "rejected", "score_chosen", "score_rejected", "chosen_model", "rejected_model"},
    "completions": {"prompt", "instruction", "completions"},
    "helpsteer2": {
        "prompt",
        "response_1",
        "response_2",
        "preference_strength",
        "preference_statement",
        "preference_elaboration",
        "model_1",
        "model_2",
        "individual_preference",
        "all_preferences_unprocessed",
        "three_most_similar_preferences",
    },
    "helpsteer2_ratings": {"prompt", "response", "model", *HELPSTEER2_ASPECTS},
    "binary": {"prompt", "response", "completion", "label", "model", "edited"},
    "messages": {"messages", "label", "model", "edited"},
    "ranking": {"prompt", "responses", "ranking"},
    "multipref": {
        "text",
        "prompt",
        "completion_a",
        "completion_b",
        "model_a",
        "model_b",
        "normal_worker_annotations",
        "expert_worker_annotations",
    },
    "alpaca_eval": {
        "prompt",
        "instruction",
        "output_1",
        "output_2",
        "generator_1",
        "generator_2",
        "preference",
        "annotator",
    },
}
EXTRA_TEXT_LIMIT = 1000  # other scalar columns (ids, dataset names) are kept on the item; long text is not
# A chosen/rejected pair says which is better but not by how much: recorded as "better" (±2).
CHOSEN_STRENGTH = 2


@dataclass
class ParsedRow:
    where: str
    text: str
    messages: list | None
    hash: str
    responses: list = field(default_factory=list)  # [(text, model_name, metadata)]
    # [(kind, index_a, index_b | None | (other indexes of a ranking), label | None)]
    items: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)  # the row's other scalar columns, e.g. an id


def detect_shape(columns: Iterable[str]) -> str | None:
    cols = set(columns)
    if {"chosen", "rejected"} <= cols:
        return "preference"
    if "completions" in cols:
        return "completions"
    if "responses" in cols:
        return "ranking"
    if {"response_1", "response_2"} <= cols:
        return "helpsteer2"
    if {"output_1", "output_2"} <= cols:
        return "alpaca_eval"
    if {"completion_a", "completion_b"} <= cols:
        return "multipref"
    if "response" in cols and cols & set(HELPSTEER2_ASPECTS):
        return "helpsteer2_ratings"
    if "messages" in cols:
        return "messages"
    if "prompt" in cols and cols & {"response", "completion"}:
        return "binary"
    return None


def rating_columns_problem(columns, aspects):
    """Why a file of Likert ratings cannot be imported into a project rating `aspects`, or None:
    every aspect needs its column, and a rating column of another aspect is refused, not dropped."""
    missing = [a for a in aspects if a not in columns]
    unknown = [a for a in HELPSTEER2_ASPECTS if a in columns and a not in aspects]
    if not missing and not unknown:
        return None
    why = [f"no column for the aspects {', '.join(missing)}"] if missing else []
    why += [f"ratings of aspects the project does not rate: {', '.join(unknown)}"] if unknown else []
    return (
        f"{'; '.join(why)}. The project rates {', '.join(aspects)}; set its aspects to the file's "
        f"({', '.join(a for a in HELPSTEER2_ASPECTS if a in columns)}), or leave them empty for HelpSteer2's"
    )


def parse_row(
    shape: str,
    row: dict[str, Any],
    where: str,
    pair_strategy: str,
    single_kind: str,
    aspects: tuple[str, ...] | list[str] = (),
) -> ParsedRow:
    parsers: dict[str, Callable[..., ParsedRow]] = {
        "preference": _preference,
        "completions": _completions,
        "helpsteer2": _helpsteer2,
        "helpsteer2_ratings": _helpsteer2_ratings,
        "binary": _binary,
        "messages": _messages,
        "alpaca_eval": _alpaca_eval,
        "ranking": _ranking,
        "multipref": _multipref,
    }
    parsed = parsers[shape](row, where, pair_strategy=pair_strategy, single_kind=single_kind, aspects=aspects)
    parsed.metadata = v.metadata(row, "metadata")
    known = COLUMNS[shape]
    for name, value in row.items():
        if name in known or name == "metadata" or v.is_missing(value):
            continue
        if isinstance(value, str) and len(value) <= EXTRA_TEXT_LIMIT:
            parsed.columns[v.storable(name, name)] = v.storable(value, name)
        elif isinstance(value, (bool, int, float)):  # NaN is missing (above); inf and huge integers are refused
            parsed.columns[v.storable(name, name)] = v.json_value(value, name)
    return parsed


# -- prompts ---------------------------------------------------------------------------------

_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ ]?")


def _hh_turns(text):
    """ "\\n\\nHuman: hi\\n\\nAssistant: hello" → messages, or None when the text is no such transcript."""
    parts = _HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        return None
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts) - 1, 2)]


def _prompt(text, messages, where):
    if messages is None and text.lstrip().startswith("Human:"):
        messages = _hh_turns(text.lstrip())
        while messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
            messages.pop()  # an hh-style prompt ends with an empty "Assistant:" cue
    if messages is not None:
        users = [m["content"] for m in messages if m["role"] == "user"]
        text = users[-1] if users else messages[-1]["content"]
        if len(messages) == 1 and messages[0]["role"] == "user":
            messages = None
    return ParsedRow(where=where, text=text, messages=messages, hash=prompt_hash(text, messages))


def _assistant_text(msgs, field_name):
    if any(m["role"] != "assistant" for m in msgs):
        raise v.FieldError(field_name, "expected only assistant messages after the prompt")
    return "\n\n".join(m["content"] for m in msgs)


def _response_text(row, name, prompt_messages=None, prompt_text=None):
    text, msgs = v.text_or_messages(row, name)
    if msgs is None:
        hh_prompt = prompt_text and prompt_text.lstrip().startswith("Human:")
        if hh_prompt and text.startswith(prompt_text) and text[len(prompt_text) :].strip():
            return text[len(prompt_text) :].strip()  # an hh transcript that repeats the prompt column
        return text
    if prompt_messages and msgs[: len(prompt_messages)] == prompt_messages and len(msgs) > len(prompt_messages):
        msgs = msgs[len(prompt_messages) :]  # some files repeat the prompt inside chosen/rejected
    return _assistant_text(msgs, name)


def _flip(parsed, text):
    """Deterministic coin per pair so A/B order never gives the source label away."""
    return zlib.crc32((parsed.hash + text).encode()) & 1 == 1


def _from_scores(score_a, score_b):
    """Score difference → −3..3 from A's side (negative: A better), keeping at least ±1 for any gap."""
    gap = score_b - score_a
    if gap == 0:
        return 0
    return int(max(1, min(3, round(abs(gap))))) * (1 if gap > 0 else -1)


# -- shapes ----------------------------------------------------------------------------------


def _preference(row, where, **_):
    if not v.is_missing(row.get("prompt")):
        ptext, pmsgs = v.text_or_messages(row, "prompt")
        parsed = _prompt(ptext or "", pmsgs, where)
        full = pmsgs or ([{"role": "user", "content": ptext}] if ptext else None)
        chosen = _response_text(row, "chosen", full, ptext)
        rejected = _response_text(row, "rejected", full, ptext)
    else:
        parsed, chosen, rejected = _implicit_prompt(row, where)
    for name, value in (("chosen", chosen), ("rejected", rejected)):
        if not value.strip():
            raise v.FieldError(name, "the response is empty")
    details: dict[str, Any] = {"import": "chosen/rejected"}
    label: dict[str, Any] = {"preference": CHOSEN_STRENGTH, "details": details}
    score_c, score_r = (
        v.number(row.get("score_chosen"), "score_chosen"),
        v.number(row.get("score_rejected"), "score_rejected"),
    )
    if score_c is not None and score_r is not None:
        details.update(score_chosen=score_c, score_rejected=score_r)
        label["preference"] = max(1, abs(_from_scores(score_r, score_c))) if score_c != score_r else 0
    models = (_model(row, "chosen_model"), _model(row, "rejected_model"))
    parsed.responses = [(chosen, models[0], {}), (rejected, models[1], {})]
    if _flip(parsed, chosen):  # A = rejected, B = chosen: B better
        parsed.items = [("pairwise", 1, 0, label)]
    else:
        label = {**label, "preference": -label["preference"]}
        parsed.items = [("pairwise", 0, 1, label)]
    return parsed


def _implicit_prompt(row, where):
    """No prompt column: the prompt is what chosen and rejected share (hh-rlhf, TRL implicit prompt)."""
    ctext, cmsgs = v.text_or_messages(row, "chosen")
    rtext, rmsgs = v.text_or_messages(row, "rejected")
    if cmsgs is None and rmsgs is None:
        cmsgs, rmsgs = _hh_turns(ctext), _hh_turns(rtext)
        if cmsgs is None:
            raise v.FieldError(
                "prompt", 'missing, and chosen is not a "Human: … Assistant: …" transcript to take it from'
            )
        if rmsgs is None:
            raise v.FieldError("rejected", 'expected a "Human: … Assistant: …" transcript like chosen')
    elif cmsgs is None or rmsgs is None:
        bad = "chosen" if cmsgs is None else "rejected"
        raise v.FieldError(bad, "expected a list of messages like the other response")
    shared = 0
    while shared < min(len(cmsgs), len(rmsgs)) and cmsgs[shared] == rmsgs[shared]:
        shared += 1
    while shared and cmsgs[shared - 1]["role"] == "assistant":
        shared -= 1  # the prompt ends at the last turn before the answers diverge
    if shared == 0:
        raise v.FieldError("prompt", "missing, and chosen and rejected share no opening turns to take it from")
    parsed = _prompt("", cmsgs[:shared], where)
    return parsed, _assistant_text(cmsgs[shared:], "chosen"), _assistant_text(rmsgs[shared:], "rejected")


def _model(row, name):
    value = row.get(name)
    if v.is_missing(value):
        return ""
    if not isinstance(value, str):
        raise v.FieldError(name, f"expected a string, got {v.describe(value)}")
    return v.storable(value, name)[:200]


def _completion(value, i):
    name = f"completions[{i}]"
    if isinstance(value, str):
        if not value.strip():
            raise v.FieldError(name, "expected a non-empty string, got an empty string")
        return v.storable(value, name), "", None, {}
    if not isinstance(value, dict):
        raise v.FieldError(name, f"expected an object {{text, model, score}} or a string, got {v.describe(value)}")
    key = next((k for k in ("text", "response", "completion") if k in value), "text")
    try:
        text, model = v.text(value, key), _model(value, "model")
    except v.FieldError as exc:
        raise v.FieldError(f"{name}.{exc.field}", exc.message) from None
    score_key = next(
        (k for k in ("score", "overall_score", "fine-grained_score", "rating") if not v.is_missing(value.get(k))), None
    )
    score = v.number(value.get(score_key), f"{name}.{score_key}") if score_key else None
    extra = {k: v.storable(value[k], f"{name}.{k}") for k in ("principle", "critique") if isinstance(value.get(k), str)}
    return text, model, score, extra


def ranks_from_scores(scores):
    """Higher score, better rank (1 best); equal scores share a rank: [7, 9, 7] → [2, 1, 2]."""
    order = sorted(set(scores), reverse=True)
    return [order.index(s) + 1 for s in scores]


def _ranking_count(n, name):
    if not RANKING_MIN <= n <= RANKING_MAX:
        raise v.FieldError(name, f"a ranking has {RANKING_MIN} to {RANKING_MAX} responses, got {n}")


def _ranking(row, where, **_):
    ptext, pmsgs = v.text_or_messages(row, "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    responses = [_completion(r, i) for i, r in enumerate(v.json_list(row, "responses"))]
    _ranking_count(len(responses), "responses")
    parsed.responses = [(t, m, extra) for t, m, _, extra in responses]
    label = None
    if not v.is_missing(row.get("ranking")):
        raw = v.json_list(row, "ranking")
        n = len(responses)
        if len(raw) != n or any(isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= n for r in raw):
            raise v.FieldError("ranking", f"expected one rank from 1 (best) to {n} per response, got {v.describe(raw)}")
        order = sorted(set(raw))
        label = {"ranking": [order.index(r) + 1 for r in raw], "details": {"import": "ranking"}}
    parsed.items = [("ranking", 0, tuple(range(1, len(responses))), label)]
    return parsed


def _completions_ranking(parsed, completions):
    _ranking_count(len(completions), "completions")
    scores = [s for _, _, s, _ in completions]
    label = None
    if all(s is not None for s in scores):
        label = {"ranking": ranks_from_scores(scores), "details": {"import": "scores", "scores": scores}}
    parsed.items = [("ranking", 0, tuple(range(1, len(completions))), label)]
    return parsed


def _completions(row, where, pair_strategy, single_kind=None, **_):
    # UltraFeedback's raw release names the prompt "instruction".
    ptext, pmsgs = v.text_or_messages(row, "instruction" if "prompt" not in row and "instruction" in row else "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    completions = [_completion(c, i) for i, c in enumerate(v.json_list(row, "completions"))]
    if len(completions) < 2:
        raise v.FieldError("completions", f"expected at least 2 completions to pair, got {len(completions)}")
    parsed.responses = [(t, m, {"score": s, **extra} if s is not None else extra) for t, m, s, extra in completions]
    if single_kind == "ranking":
        return _completions_ranking(parsed, completions)
    scores = [s for _, _, s, _ in completions]
    if pair_strategy == "best_worst":
        missing = next((i for i, s in enumerate(scores) if s is None), None)
        if missing is not None:
            raise v.FieldError(
                f"completions[{missing}].score",
                "missing; pairing best vs worst needs a score on every completion "
                "(or set the project's pair strategy to all_pairs or adjacent)",
            )
        best = max(range(len(scores)), key=lambda i: scores[i])
        worst = min(range(len(scores)), key=lambda i: (scores[i], -i))
        if best == worst:
            best, worst = 0, 1
        pairs = [(worst, best) if _flip(parsed, completions[best][0]) else (best, worst)]
    elif pair_strategy == "all_pairs":
        pairs = [(i, j) for i in range(len(completions)) for j in range(i + 1, len(completions))]
    else:
        pairs = [(i, i + 1) for i in range(0, len(completions) - 1, 2)]
    for a, b in pairs:
        label = None
        if scores[a] is not None and scores[b] is not None:
            label = {
                "preference": _from_scores(scores[a], scores[b]),
                "details": {"import": "scores", "score_a": scores[a], "score_b": scores[b]},
            }
        parsed.items.append(("pairwise", a, b, label))
    return parsed


def _helpsteer2(row, where, **_):
    ptext, pmsgs = v.text_or_messages(row, "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    parsed.responses = [
        (_response_text(row, "response_1"), _model(row, "model_1"), {}),
        (_response_text(row, "response_2"), _model(row, "model_2"), {}),
    ]
    strength = v.preference_strength(row, "preference_strength")
    label = None
    if strength is not None:
        rationale = "\n\n".join(
            s
            for s in (row.get("preference_statement"), row.get("preference_elaboration"))
            if isinstance(s, str) and s.strip()
        )
        label = {
            "preference": strength,
            "rationale": v.storable(rationale, "preference_elaboration"),
            "details": {"import": "preference_strength"},
        }
    individual = _individual_preferences(row)
    if individual:
        if label:
            parsed.columns["preference_strength"] = strength  # derived from the individuals: not another annotator
        parsed.items = [("pairwise", 0, 1, individual)]
    else:
        parsed.items = [("pairwise", 0, 1, label)]
    return parsed


def _helpsteer2_ratings(row, where, aspects, **_):
    """HelpSteer2's rows: one response rated 0–4 on each aspect, by people (one label per row)."""
    ptext, pmsgs = v.text_or_messages(row, "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    full = pmsgs or [{"role": "user", "content": ptext}]
    parsed.responses = [(_response_text(row, "response", full), _model(row, "model"), {})]
    ratings = {}
    for aspect in aspects:
        value = v.number(row.get(aspect), aspect)
        if value is None:
            raise v.FieldError(aspect, "missing; every aspect needs a rating from 0 to 4")
        if not float(value).is_integer() or not 0 <= value <= 4:
            raise v.FieldError(aspect, f"expected a whole number from 0 to 4, got {value!r}")
        ratings[aspect] = int(value)
    label = {"likert_ratings": ratings, "label_kind": "human", "details": {"import": "helpsteer2_ratings"}}
    parsed.items = [("likert", 0, None, label)]
    return parsed


INDIVIDUAL_FIELDS = ("individual_preference", "all_preferences_unprocessed")


def _individual_preferences(row):
    """HelpSteer2-Preference's per-annotator preferences → one human label per annotator, or []."""
    name = next((f for f in INDIVIDUAL_FIELDS if not v.is_missing(row.get(f))), None)
    if name is None:
        return []
    entries = v.maybe_json_list(row.get(name), name)
    if not isinstance(entries, (list, tuple)):
        raise v.FieldError(name, f"expected a list of {{strength, justification}}, got {v.describe(entries)}")
    labels = []
    for i, entry in enumerate(entries):
        where = f"{name}[{i}]"
        if not isinstance(entry, dict):
            raise v.FieldError(where, f"expected an object with a strength, got {v.describe(entry)}")
        strength = v.preference_strength({f"{where}.strength": entry.get("strength")}, f"{where}.strength")
        if strength is None:
            raise v.FieldError(
                f"{where}.strength", "missing; every individual preference needs a strength from -3 to 3"
            )
        why = "\n\n".join(
            t
            for t in (entry.get(k) for k in ("statement", "elaboration", "justification"))
            if isinstance(t, str) and t.strip()
        )
        labels.append(
            {
                "preference": strength,
                "rationale": v.storable(why, f"{where}.justification"),
                "source_suffix": f" · annotator {i + 1}",
                "label_kind": "human",
                "details": {"import": "individual_preference", "position": i + 1},
            }
        )
    return labels


MULTIPREF_PREFERENCES = {
    "a-is-clearly-better": -2,
    "a-is-slightly-better": -1,
    "tie": 0,
    "b-is-slightly-better": 1,
    "b-is-clearly-better": 2,
}
MULTIPREF_WORKERS = (("normal_worker_annotations", "normal"), ("expert_worker_annotations", "expert"))
MULTIPREF_DETAILS = ("helpful_pref", "truthful_pref", "harmless_pref", "overall_confidence", "time_spent")


def _multipref(row, where, **_):
    """allenai/multipref's rows: a prompt (`text`), two completions and each worker's labels."""
    name = "text" if not v.is_missing(row.get("text")) else "prompt"
    ptext, pmsgs = v.text_or_messages(row, name)
    parsed = _prompt(ptext or "", pmsgs, where)
    parsed.responses = [
        (_response_text(row, "completion_a"), _model(row, "model_a"), {}),
        (_response_text(row, "completion_b"), _model(row, "model_b"), {}),
    ]
    labels = []
    for column, group in MULTIPREF_WORKERS:
        if v.is_missing(row.get(column)):
            continue
        entries = v.maybe_json_list(row.get(column), column)
        if not isinstance(entries, (list, tuple)):
            raise v.FieldError(column, f"expected a list of worker annotations, got {v.describe(entries)}")
        for i, entry in enumerate(entries):
            field_name = f"{column}[{i}].overall_pref"
            if not isinstance(entry, dict):
                raise v.FieldError(f"{column}[{i}]", f"expected an object with overall_pref, got {v.describe(entry)}")
            pref = entry.get("overall_pref")
            if v.is_missing(pref):
                continue  # a worker who gave no overall preference labelled nothing
            value = MULTIPREF_PREFERENCES.get(str(pref).strip().lower())
            if value is None:
                raise v.FieldError(field_name, f"expected one of {', '.join(MULTIPREF_PREFERENCES)}, got {pref!r}")
            raw = entry.get("evaluator")
            evaluator = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
            ok = 0 < len(evaluator) <= 64
            who = v.storable(evaluator, f"{column}[{i}].evaluator") if ok else str(i + 1)
            details = {
                k: v.storable(entry[k], k) if isinstance(entry[k], str) else v.json_value(entry[k], k)
                for k in MULTIPREF_DETAILS
                if isinstance(entry.get(k), (str, int, float)) and not isinstance(entry.get(k), bool)
            }
            labels.append(
                {
                    "preference": value,
                    "source_suffix": f" · {group} {who}",
                    "label_kind": "human",
                    "details": {"import": "multipref", "worker": group, **details},
                }
            )
    parsed.items = [("pairwise", 0, 1, labels or None)]
    return parsed


def _single(parsed, response, model, row, single_kind):
    parsed.responses = [(response, model, {})]
    thumbs = v.label(row, "label")
    if single_kind == "edit":
        if thumbs:
            parsed.responses[0][2]["source_label"] = thumbs
        edited, label = v.text(row, "edited", required=False), None
        if edited is not None:
            # Derived as Annotation.save derives them (bulk inserts skip save).
            label = {"edited_text": edited, **derive(response, edited), "details": {"import": "edited"}}
        parsed.items = [("edit", 0, None, label)]
    else:
        parsed.items = [("binary", 0, None, {"thumbs": thumbs, "details": {"import": "label"}} if thumbs else None)]
    return parsed


def _binary(row, where, single_kind, **_):
    ptext, pmsgs = v.text_or_messages(row, "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    name = "response" if "response" in row else "completion"
    full = pmsgs or [{"role": "user", "content": ptext}]
    return _single(parsed, _response_text(row, name, full), _model(row, "model"), row, single_kind)


def _messages(row, where, single_kind, **_):
    msgs = v.messages(v.maybe_json_list(row.get("messages"), "messages"), "messages")
    if msgs[-1]["role"] != "assistant":
        raise v.FieldError(f"messages[{len(msgs) - 1}]", "the last message must be the assistant's response")
    if len(msgs) < 2 or not any(m["role"] == "user" for m in msgs[:-1]):
        raise v.FieldError("messages", "expected at least one user turn before the assistant's response")
    parsed = _prompt("", msgs[:-1], where)
    return _single(parsed, msgs[-1]["content"], _model(row, "model"), row, single_kind)


def _from_alpaca(value):
    """AlpacaEval verdict → −3..3 from output_1's side. A plain verdict (1 or 2) says which is better
    but not by how much: ±2, like chosen/rejected. A weighted judge's 1 + P(output_2 better) keeps
    its direction, ±2 from P ≥ 0.875 either way, else ±1; exactly 1.5, or 0, is a tie."""
    if value in (1, 2):
        return CHOSEN_STRENGTH if value == 2 else -CHOSEN_STRENGTH
    gap = value - 1.5 if value else 0
    if gap == 0:
        return 0
    return max(1, min(CHOSEN_STRENGTH, round(abs(gap) * 4))) * (1 if gap > 0 else -1)


def _alpaca_eval(row, where, **_):
    ptext, pmsgs = v.text_or_messages(row, "instruction" if "instruction" in row or "prompt" not in row else "prompt")
    parsed = _prompt(ptext or "", pmsgs, where)
    first, second = v.text(row, "output_1"), v.text(row, "output_2")
    responses: list[tuple[str, str, dict[str, Any]]] = [
        (first, _model(row, "generator_1"), {}),
        (second, _model(row, "generator_2"), {}),
    ]
    value = v.alpaca_preference(row, "preference")
    label = None
    if value is not None:
        label = {"preference": _from_alpaca(value), "details": {"import": "alpaca_eval", "preference": value}}
        if value not in (0, 1, 2):
            label["confidence"] = max(value - 1, 2 - value)  # the judge's probability of its verdict
        name = row.get("annotator")
        if not v.is_missing(name):
            if not isinstance(name, str) or not name.strip():
                raise v.FieldError("annotator", f"expected the judge's name, got {v.describe(name)}")
            label["source"] = v.storable(name.strip(), "annotator")[:200]
    # output_1 is AlpacaEval's reference model in every row: shuffle A/B so position says nothing.
    if _flip(parsed, first):
        responses.reverse()
        if label:
            label["preference"] = -label["preference"]
    parsed.responses = responses
    parsed.items = [("pairwise", 0, 1, label)]
    return parsed
