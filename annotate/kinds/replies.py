"""Reading an LM judge's reply, as text: the helpers every kind's `judge_label` parses with.

A reply yields a label only when it states one unambiguously: a JSON object anywhere in the text
(fenced or not), or `Verdict: ...` lines. Out-of-range numbers, conflicting verdicts and prose
without a verdict are `Unparsed`, never clamped or guessed. Pure text functions, in the core layer
so the kind modules can parse their own replies; everything that reads a judge's reply uses them."""

import json
import re
from dataclasses import dataclass, field

from annotate.models import AnnotationStatus

_DECODER = json.JSONDecoder()
RATIONALE_KEYS = ("rationale", "reason", "explanation", "reasoning")
YES = {"yes", "y", "true", "pass", "passes", "follows", "ok", "1"}
NO = {"no", "n", "false", "fail", "fails", "violates", "0"}
VERDICT_LINE = re.compile(r"(?im)^[\s*#>_-]*(?:final\s+)?(?:verdict|preference|score)\s*[:=]\s*\**\s*(.+?)\s*\**\s*$")


@dataclass
class Parsed:
    ok: bool
    label: dict = field(default_factory=dict)
    error: str = ""
    source: str = ""  # "json" or "text": which form of the reply carried the label


def unparsed(error):
    return Parsed(ok=False, error=error)


@dataclass(frozen=True)
class Reply:
    """One judge reply as a kind sees it: its text, or (text None) why the request failed; `raw` is
    what the item page shows of it (judging builds it, hiding the server's body from non-admins)."""

    text: str | None
    error: str = ""
    raw: dict = field(default_factory=dict)


def parse(parser, reply: Reply, *args) -> Parsed:
    """`parser(reply.text, *args)`, or Unparsed with the request's error when it failed."""
    if reply.text is None:
        return unparsed(reply.error)
    return parser(reply.text, *args)


def unparsed_fields(reply: Reply, parsed: Parsed) -> dict:
    """The Annotation fields of a reply that gave no label."""
    return {
        "status": AnnotationStatus.UNPARSED,
        "details": {"raw": reply.raw, "source": parsed.source, "error": parsed.error},
    }


def json_objects(text: str) -> list[dict]:
    """Every top-level JSON object embedded in the text, in order of appearance."""
    objects: list[dict] = []
    i = 0
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


def first_with(objects, keys):
    """The first object (its keys lower-cased) that has one of `keys`; None when none has."""
    for obj in objects:
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        if any(k in lowered for k in keys):
            return lowered
    return None


def text_of(obj, keys):
    """The first of `keys` whose value is text, stripped; "" when none is."""
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            return value.strip()
    return ""


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


def normalise(name):
    """A name as a reply may spell it: case, spacing and list punctuation ignored."""
    return " ".join(str(name).lower().split()).strip(" -*:.")
