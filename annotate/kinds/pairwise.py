"""Pairwise comparison: two responses, a preference on the 7-point scale, optional aspect ratings.

Input is in display order ("left" is whatever was shown on the left); it is stored in the item's
canonical A/B order with `swapped` recording that B was on the left, so position bias stays
measurable. A gold answer matches by direction (A, tie, B), never by strength.

An LM judge sees the pair in both orders, so position bias cancels (`combine_swap`)."""

import re

from django.core.exceptions import ValidationError

from annotate.kinds import fields, judge_prompts
from annotate.kinds.base import Consensus, ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import RATIONALE_KEYS, VERDICT_LINE, Parsed, first_with, json_objects, text_of, unparsed
from annotate.kinds.replies import parse as parse_reply
from annotate.kinds.scale import PREFERENCE_DOMAIN, PREFERENCE_LABELS, PREFERENCE_MAX, PREFERENCE_MIN, SCALE, sign
from annotate.kinds.scale import PROMPT_TEXT as SCALE_TEXT
from annotate.kinds.snapshot import rationales
from annotate.models import AnnotationStatus, FeedbackKind
from annotate.strict_input import strict_int

GOLD_HELP = "a pairwise gold answer is a preference from -3 (A much better) to 3 (B much better)"

JUDGE_PROMPT = (
    """Compare two responses to the same conversation.

[Conversation]
$prompt

[Response A]
$response_a

[Response B]
$response_b

Aspects to weigh: $aspects.
Grade the preference on a 7-point scale:
"""
    + SCALE_TEXT
    + """.

Write a short rationale, then reply with exactly one JSON object:
{"rationale": "<one or two sentences>", "verdict": <integer from -3 to 3>}"""
)
SINGLE_ORDER_CONFIDENCE = 0.4  # one order parsed, the other not: position bias is uncontrolled

# --- reading a judge's verdict ------------------------------------------------------------------

PAIRWISE_KEYS = ("verdict", "preference", "score", "grade")
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
    objects = [o for o in (first_with([obj], PAIRWISE_KEYS) for obj in json_objects(text)) if o is not None]
    if objects:
        raws = [next(o[k] for k in PAIRWISE_KEYS if k in o) for o in objects]
        values = [preference_value(raw) for raw in raws]
        if values[0] is None:
            return unparsed(f"verdict {raws[0]!r} is not on the −3..3 scale")
        if len(set(values)) > 1:
            return unparsed(f"the reply gives different verdicts: {raws}")
        return Parsed(True, {"preference": values[0], "rationale": text_of(objects[0], RATIONALE_KEYS)}, source="json")
    found = [preference_value(m.group(1)) for m in VERDICT_LINE.finditer(text)]
    if not found:
        return unparsed("no JSON verdict and no 'Verdict:' line")
    if None in found or len(set(found)) > 1:
        return unparsed("'Verdict:' lines are out of range or contradict each other")
    rationale = re.search(r"(?is)rationale\s*[:=]\s*(.+?)(?:\n\s*\n|\Z|(?=verdict\s*[:=]))", text)
    return Parsed(
        True, {"preference": found[0], "rationale": rationale.group(1).strip() if rationale else ""}, source="text"
    )


def combine_swap(ab, ba):
    """Fold the two orders into one canonical verdict. `ab` is judged as shown; `ba` showed B first,
    so its preference is negated. Returns (fields, details) for the Annotation."""
    details: dict = {"verdicts": []}
    canonical = []
    for order, parsed in (("ab", ab), ("ba", ba)):
        entry = {"order": order, "parsed": parsed.ok, "source": parsed.source}
        if parsed.ok:
            shown = parsed.label["preference"]
            entry.update(
                preference_shown=shown,
                preference=shown if order == "ab" else -shown,
                rationale=parsed.label["rationale"],
            )
            canonical.append(entry["preference"])
        else:
            entry["error"] = parsed.error
        details["verdicts"].append(entry)
    if not canonical:
        return {"status": AnnotationStatus.UNPARSED, "preference": None, "confidence": None}, details
    rationale = next((v["rationale"] for v in details["verdicts"] if v.get("rationale")), "")
    if len(canonical) == 1:
        details.update(swap_consistent=None, note="only one order could be parsed")
        return {
            "status": AnnotationStatus.OK,
            "preference": canonical[0],
            "confidence": SINGLE_ORDER_CONFIDENCE,
            "rationale": rationale,
        }, details
    first, second = canonical
    gap = abs(first - second)
    consistent = (first > 0) == (second > 0) and (first < 0) == (second < 0)
    mean = (first + second) / 2
    # Round toward the tie: an inconsistent judge must not look more decided than it was.
    preference = int(mean)
    confidence = 1.0 - gap / 6.0
    if not consistent:
        confidence *= 0.5
    details.update(swap_consistent=consistent, swap_gap=gap)
    return {
        "status": AnnotationStatus.OK,
        "preference": preference,
        "confidence": round(confidence, 4),
        "rationale": rationale,
    }, details


class PairwiseKind(FeedbackKindSpec):
    key = FeedbackKind.PAIRWISE.value
    label = FeedbackKind.PAIRWISE.label
    response_count = (2, 2)
    form_template = "annotate/_form_pairwise.html"
    dock_template = "annotate/_scale.html"
    keys = {
        "1…7": "scale: " + " · ".join(p.label for p in SCALE),
        "a t b": "A better · tie · B better",
        "g": "rate aspects: focus the first unrated aspect",
        "1…5": "on an aspect: set its rating and move to the next aspect",
        "Tab / Shift+Tab": "next / previous aspect · Esc back to the scale keys",
        "r": "rationale",
    }
    label_fields = ("preference", "aspect_ratings", "rationale", "swapped")
    export = ExportShape("pair", "margin", 1.0)
    agreement_level = "ordinal"
    agreement_domain = PREFERENCE_DOMAIN
    has_gold = True
    noise_model = True

    def display_responses(self, item, swapped):
        return [item.response_b, item.response_a] if swapped else [item.response_a, item.response_b]

    def form_context(self, item, project, swapped, values):
        return {"scale": SCALE, "aspects": project.aspects}

    def data_from_form(self, item, post):
        aspects: dict[str, dict[str, str]] = {}
        for key, raw in post.items():
            if key.startswith("aspect:") and raw != "":
                _, name, side = (key.split(":", 2) + ["", ""])[:3]
                aspects.setdefault(name, {})[side] = raw
        return {"preference": post.get("preference"), "aspects": aspects, "rationale": post.get("rationale", "")}

    def clean(self, item, project, swapped, data, errors):
        raw = data.get("preference")
        preference = None
        try:
            preference = strict_int(raw)
            if not PREFERENCE_MIN <= preference <= PREFERENCE_MAX:
                raise ValueError
        except ValueError:
            errors["preference"] = (
                "choose a point on the scale"
                if raw in (None, "")
                else (
                    f"the preference must be a whole number from {PREFERENCE_MIN} (left much better) to "
                    f"{PREFERENCE_MAX} (right much better); got {str(raw)[:40]!r}"
                )
            )
            preference = None
        aspects = data.get("aspects") or {}
        ratings = {}
        if not isinstance(aspects, dict):
            errors["aspects"] = "aspect ratings must be a mapping {aspect: {left, right}}"
            aspects = {}
        for name, sides in aspects.items():
            if name not in project.aspects:
                errors["aspects"] = f"{name!r} is not one of this project's aspects ({', '.join(project.aspects)})"
                continue
            if not isinstance(sides, dict):
                errors["aspects"] = f"ratings for {name!r} must be {{left, right}}"
                continue
            left = fields.rating(sides.get("left"), f"aspect:{name}:left", errors)
            right = fields.rating(sides.get("right"), f"aspect:{name}:right", errors)
            a, b = (right, left) if swapped else (left, right)
            rated = {side: v for side, v in (("a", a), ("b", b)) if v is not None}
            if rated:
                ratings[name] = rated
        return {
            "preference": None if preference is None else (-preference if swapped else preference),
            "aspect_ratings": ratings,
            "rationale": fields.text(data.get("rationale"), "rationale", errors),
            "swapped": swapped,
        }

    def form_values(self, annotation, swapped):
        values = {
            "preference": str(-annotation.preference if swapped else annotation.preference),
            "rationale": annotation.rationale,
        }
        for name, sides in (annotation.aspect_ratings or {}).items():
            shown = {"a": "right", "b": "left"} if swapped else {"a": "left", "b": "right"}
            for side, rating in (sides or {}).items():
                values[f"aspect:{name}:{shown[side]}"] = str(rating)
        return values

    def summary(self, annotation, swapped):
        if annotation.preference is None:
            return ""
        return PREFERENCE_LABELS[-annotation.preference if swapped else annotation.preference]

    gold_form_template = "annotate/_gold_pairwise.html"

    def gold_answer_from_form(self, item, post):
        return {"preference": post.get("preference")}

    def clean_gold_answer(self, item, answer):
        raw = answer.get("preference") if isinstance(answer, dict) else None
        try:
            number = int(raw)  # type: ignore[arg-type]  # None and junk raise, and are refused
        except (TypeError, ValueError):
            raise ValidationError(GOLD_HELP) from None
        if not PREFERENCE_MIN <= number <= PREFERENCE_MAX:
            raise ValidationError(GOLD_HELP)
        return {"preference": number}

    def gold_correct(self, item, label):
        answer = item.gold_answer or {}
        preference = value(label, "preference")
        if preference is None or "preference" not in answer:
            return None
        return sign(preference) == sign(answer["preference"])

    def gold_verdict(self, item, swapped):
        answer = (item.gold_answer or {})["preference"]
        shown = -answer if swapped else answer
        return GoldVerdict(PREFERENCE_LABELS[shown], "the direction counts (A, tie or B), not the strength")

    # --- LM judges ----------------------------------------------------------------------------

    judge_templates = {
        "pairwise": JudgeTemplate(JUDGE_PROMPT, frozenset({"prompt", "response_a", "response_b", "aspects"}))
    }

    def judge_messages(self, item, overrides=None, swapped=False):
        """Judge messages for a pair; `swapped` shows response B in the A slot (position-swap)."""
        first, second = (item.response_b, item.response_a) if swapped else (item.response_a, item.response_b)
        values = {
            "prompt": judge_prompts.conversation_text(item.prompt),
            "response_a": first.text,
            "response_b": second.text,
            "aspects": judge_prompts.aspects_text(item.project),
        }
        return judge_prompts.messages(self.judge_templates["pairwise"], "pairwise", overrides, values)

    def judge_requests(self, item, overrides):
        return [
            JudgeRequest("ab", self.judge_messages(item, overrides, swapped=False)),
            JudgeRequest("ba", self.judge_messages(item, overrides, swapped=True)),
        ]

    def judge_label(self, item, replies):
        ab, ba = replies
        verdict, details = combine_swap(parse_reply(parse_pairwise, ab), parse_reply(parse_pairwise, ba))
        details["raw"] = {"ab": ab.raw, "ba": ba.raw}
        return {**verdict, "details": details}

    # --- curation ------------------------------------------------------------------------------

    def direction(self, label):
        return sign(value(label, "preference"))

    def consensus(self, labels):
        prefs = [p for p in (value(label, "preference") for label in labels) if p is not None]
        if not prefs:
            return Consensus()
        mean = sum(prefs) / len(prefs)
        return Consensus(preference=mean, direction=sign(mean))

    def agreement_values(self, label):
        preference = value(label, "preference")
        return {} if preference is None else {"": preference}

    def snapshot_rows(self, c):
        if not c.direction:
            return []
        a_wins = c.direction < 0
        pref = c.preference
        return [
            {
                **c.base,
                "chosen": c.text_a if a_wins else c.text_b,
                "rejected": c.text_b if a_wins else c.text_a,
                "margin": round(abs(pref), 4),
                "preference": int(round(pref)) or c.direction,
                "rationales": rationales(c.labels, c.generated_rationale),
                "p_noise": c.p_noise,
                "n_labels": c.n_labels,
                "flipped": c.flipped,
                # Each label turned to the row's orientation: positive prefers `chosen`, 0 a tie.
                "labels": [
                    {**label, "preference": -label["preference"] if a_wins else label["preference"]}
                    for label in c.individual_labels
                ],
                "controversial": c.controversial,
                "groups": [{"group": g, "prefers_chosen": prefers_b == (not a_wins)} for g, prefers_b in c.group_sides],
            }
        ]
