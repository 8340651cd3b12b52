"""Pairwise comparison: two responses, a preference on the 7-point scale, optional aspect ratings.

Input is in display order ("left" is whatever was shown on the left); it is stored in the item's
canonical A/B order with `swapped` recording that B was on the left, so position bias stays
measurable. A gold answer matches by direction (A, tie, B), never by strength."""

from django.core.exceptions import ValidationError

from annotate.kinds import fields
from annotate.kinds.base import Consensus, ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.kinds.scale import PREFERENCE_DOMAIN, PREFERENCE_LABELS, PREFERENCE_MAX, PREFERENCE_MIN, SCALE, sign
from annotate.models import FeedbackKind
from annotate.strict_input import strict_int

GOLD_HELP = "a pairwise gold answer is a preference from -3 (A much better) to 3 (B much better)"


class PairwiseKind(FeedbackKindSpec):
    key = FeedbackKind.PAIRWISE.value
    label = FeedbackKind.PAIRWISE.label
    response_count = (2, 2)
    form_template = "annotate/_form_pairwise.html"
    dock_template = "annotate/_scale.html"
    keys = {**{p.key: p.label for p in SCALE}, "g": "rate aspects (then 1…5)", "r": "rationale"}
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
