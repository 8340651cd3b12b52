"""Parsing judge replies. A reply yields a label only when it states one unambiguously: a JSON
object anywhere in the text (fenced or not), or `Verdict: ...` lines. Out-of-range numbers,
conflicting verdicts and prose without a verdict are `Unparsed`, never clamped or guessed."""

import json
import re
from dataclasses import dataclass, field

from annotate.kinds.scale import SCALE

_DECODER = json.JSONDecoder()
PAIRWISE_KEYS = ("verdict", "preference", "score", "grade")
RATIONALE_KEYS = ("rationale", "reason", "explanation", "reasoning")
YES = {"yes", "y", "true", "pass", "passes", "follows", "ok", "1"}
NO = {"no", "n", "false", "fail", "fails", "violates", "0"}

# Phrases equivalent to points of the scale (its labels, and shorthands); a bare "A"/"B" is the
# scale's "better" (±2).
_PHRASES = {p.label.lower(): p.value for p in SCALE} | {
    "a>>b": -3,
    "a≫b": -3,
    "a>b": -2,
    "a": -2,
    "equal": 0,
    "a=b": 0,
    "c": 0,
    "b>a": 2,
    "b": 2,
    "b>>a": 3,
    "b≫a": 3,
}
_VERDICT_LINE = re.compile(r"(?im)^[\s*#>_-]*(?:final\s+)?(?:verdict|preference|score)\s*[:=]\s*\**\s*(.+?)\s*\**\s*$")
_LABELLED_LINE = re.compile(r"(?m)^[\s*>_-]*(?P<key>[^:\n]{1,200}?)\s*[:=]\s*\**\s*(?P<value>yes|no)\b", re.IGNORECASE)


@dataclass
class Parsed:
    ok: bool
    label: dict = field(default_factory=dict)
    error: str = ""
    source: str = ""  # "json" or "text": which form of the reply carried the label


def unparsed(error):
    return Parsed(ok=False, error=error)


def json_objects(text):
    """Every top-level JSON object embedded in the text, in order of appearance."""
    objects, i = [], 0
    while True:
        start = text.find("{", i)
        if start < 0:
            return objects
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        if isinstance(obj, dict):
            objects.append(obj)
        i = end


def _first_with(objects, keys):
    for obj in objects:
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        if any(k in lowered for k in keys):
            return lowered
    return None


def _text_of(obj, keys):
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            return value.strip()
    return ""


def preference_value(value):
    """−3..3 from an int, a numeric string ("+2") or a scale phrase; None when it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() and -3 <= value <= 3 else None
    if not isinstance(value, str):
        return None
    s = value.strip().strip("[]().*\"'`").strip().lower()
    s = re.sub(r"^response\s+", "", s)
    s = re.sub(r"\s+", " ", s.replace("response ", ""))
    if re.fullmatch(r"[+-]?\d+(\.0+)?", s):
        n = int(float(s))
        return n if -3 <= n <= 3 else None
    return _PHRASES.get(s)


def parse_pairwise(text):
    """{"preference": −3..3, "rationale": str} in the order the responses were shown."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    objects = [o for o in (_first_with([obj], PAIRWISE_KEYS) for obj in json_objects(text)) if o is not None]
    if objects:
        raws = [next(o[k] for k in PAIRWISE_KEYS if k in o) for o in objects]
        values = [preference_value(raw) for raw in raws]
        if values[0] is None:
            return unparsed(f"verdict {raws[0]!r} is not on the −3..3 scale")
        if len(set(values)) > 1:
            return unparsed(f"the reply gives different verdicts: {raws}")
        return Parsed(True, {"preference": values[0], "rationale": _text_of(objects[0], RATIONALE_KEYS)}, source="json")
    found = [preference_value(m.group(1)) for m in _VERDICT_LINE.finditer(text)]
    if not found:
        return unparsed("no JSON verdict and no 'Verdict:' line")
    if None in found or len(set(found)) > 1:
        return unparsed("'Verdict:' lines are out of range or contradict each other")
    rationale = re.search(r"(?is)rationale\s*[:=]\s*(.+?)(?:\n\s*\n|\Z|(?=verdict\s*[:=]))", text)
    return Parsed(
        True, {"preference": found[0], "rationale": rationale.group(1).strip() if rationale else ""}, source="text"
    )


def yes_no(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        s = value.strip().strip(".!\"'`*").lower()
        if s in YES:
            return True
        if s in NO:
            return False
    return None


def _normalise(name):
    return " ".join(str(name).lower().split()).strip(" -*:.")


def parse_binary(text, principles):
    """{"thumbs": up|down, "failed_principles": [...], "reason": str}. With principles every one must
    be answered yes/no (a principle left out is not assumed to pass); without, one yes/no verdict."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    objects = json_objects(text)
    if not principles:
        obj = _first_with(objects, ("verdict", "answer", "thumbs"))
        if obj is not None:
            raw = next(obj[k] for k in ("verdict", "answer", "thumbs") if k in obj)
            value = {"up": True, "down": False}.get(str(raw).strip().lower(), yes_no(raw))
            if value is None:
                return unparsed(f"verdict {raw!r} is not yes/no")
            return Parsed(
                True,
                {"thumbs": "up" if value else "down", "failed_principles": [], "reason": _text_of(obj, RATIONALE_KEYS)},
                source="json",
            )
        found = {yes_no(m.group(1)) for m in _VERDICT_LINE.finditer(text)}
        if len(found) != 1 or None in found:
            return unparsed("no unambiguous yes/no verdict")
        value = found.pop()
        return Parsed(True, {"thumbs": "up" if value else "down", "failed_principles": [], "reason": ""}, source="text")

    wanted = {_normalise(p): p for p in principles}
    answers, source, reason = {}, "", ""
    obj = _first_with(objects, ("principles",))
    if obj is not None and isinstance(obj["principles"], dict):
        source, reason = "json", _text_of(obj, RATIONALE_KEYS)
        for key, value in obj["principles"].items():
            if _normalise(key) in wanted:
                answers[wanted[_normalise(key)]] = yes_no(value)
    else:
        source = "text"
        for m in _LABELLED_LINE.finditer(text):
            key = _normalise(m.group("key"))
            if key in wanted:
                previous = answers.get(wanted[key])
                value = yes_no(m.group("value"))
                answers[wanted[key]] = value if previous in (None, value) else "conflict"
    missing = [p for p in principles if answers.get(p) not in (True, False)]
    if missing:
        return unparsed(f"no clear yes/no for principles: {missing}")
    failed = [p for p in principles if answers[p] is False]
    label = {"thumbs": "down" if failed else "up", "failed_principles": failed, "reason": reason, "answers": answers}
    return Parsed(True, label, source=source)


def parse_edit(text):
    """{"edited_text": str, "quality": 1..5 or None, "rationale": str}; the edited text is required."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    obj = _first_with(json_objects(text), ("edited_text", "edited", "revision"))
    if obj is None:
        return unparsed("no JSON object with edited_text")
    edited = next(obj[k] for k in ("edited_text", "edited", "revision") if k in obj)
    if not isinstance(edited, str) or not edited.strip():
        return unparsed("edited_text is empty or not text")
    quality = obj.get("quality")
    if quality is not None:
        if (
            isinstance(quality, bool)
            or not isinstance(quality, (int, float))
            or not 1 <= quality <= 5
            or not float(quality).is_integer()
        ):
            return unparsed(f"quality {quality!r} is not an integer 1-5")
        quality = int(quality)
    return Parsed(
        True, {"edited_text": edited, "quality": quality, "rationale": _text_of(obj, RATIONALE_KEYS)}, source="json"
    )


def parse_ranking(text, n):
    """{"ranking": [rank per response 1..n], "rationale": str} from a JSON `ranking` list of response
    numbers best first (an inner list is a tie). Every response must appear exactly once."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    obj = _first_with(json_objects(text), ("ranking", "order"))
    if obj is None:
        return unparsed("no JSON object with a ranking")
    order = obj.get("ranking", obj.get("order"))
    if not isinstance(order, list) or not order:
        return unparsed(f"ranking {order!r} is not a list of response numbers")
    ranks: dict[int, int] = {}
    for rank, entry in enumerate(order, start=1):
        for number in entry if isinstance(entry, list) else [entry]:
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= n:
                return unparsed(f"{number!r} is not a response number 1..{n}")
            if number in ranks:
                return unparsed(f"response {number} is ranked twice")
            ranks[number] = rank
    if len(ranks) != n:
        missing = sorted(set(range(1, n + 1)) - set(ranks))
        return unparsed(f"responses {missing} are not ranked")
    dense = {r: i for i, r in enumerate(sorted(set(ranks.values())), start=1)}
    ranking = [dense[ranks[number]] for number in range(1, n + 1)]
    return Parsed(True, {"ranking": ranking, "rationale": _text_of(obj, RATIONALE_KEYS)}, source="json")


def parse_likert(text, aspects):
    """{"ratings": {aspect: 0..4} for exactly `aspects`, "rationale": str}. A reply missing an
    aspect, naming another, or rating outside 0-4 (or not a whole number) is Unparsed."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    wanted = {_normalise(a): a for a in aspects}
    obj = _first_with(json_objects(text), ("ratings",))
    ratings = obj.get("ratings") if obj is not None else None
    if not isinstance(ratings, dict):
        # A flat object of the aspects themselves ({"helpfulness": 3, ...}) is as clear.
        obj = next((o for o in json_objects(text) if {_normalise(k) for k in o} & set(wanted)), None)
        ratings = obj
    if not isinstance(ratings, dict):
        return unparsed("no JSON object with ratings")
    out, extra = {}, []
    for key, raw in ratings.items():
        name = wanted.get(_normalise(key))
        if name is None:
            if obj is ratings and _normalise(key) in RATIONALE_KEYS:
                continue
            extra.append(str(key))
            continue
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not float(raw).is_integer():
            return unparsed(f"{name}: {raw!r} is not a whole number 0-4")
        if not 0 <= raw <= 4:
            return unparsed(f"{name}: {raw!r} is outside 0-4")
        out[name] = int(raw)
    if extra:
        return unparsed(f"not aspects asked for: {', '.join(extra)}")
    missing = [a for a in aspects if a not in out]
    if missing:
        return unparsed(f"no rating for: {', '.join(missing)}")
    rationale = _text_of(obj, RATIONALE_KEYS) if obj is not None else ""
    return Parsed(True, {"ratings": out, "rationale": rationale}, source="json")
