"""Thumbs up / down on one response, with the project's principles it fails and a reason.

A gold answer matches by thumbs. The direction is +1 up, −1 down."""

from django.core.exceptions import ValidationError

from annotate.kinds import fields
from annotate.kinds.base import ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.models import FeedbackKind, Thumbs


class BinaryKind(FeedbackKindSpec):
    key = FeedbackKind.BINARY.value
    label = FeedbackKind.BINARY.label
    form_template = "annotate/_form_binary.html"
    keys = {"u": "thumbs up", "d": "thumbs down", "1…9": "toggle a principle", "r": "reason"}
    label_fields = ("thumbs", "failed_principles", "reason")
    export = ExportShape("single")
    agreement_level = "nominal"
    has_gold = True
    noise_model = True

    def form_context(self, item, project, swapped, values):
        return {"principles": project.principles, "checked_principles": values.get("failed_principles") or []}

    def data_from_form(self, item, post):
        return {
            "thumbs": post.get("thumbs"),
            "failed_principles": post.getlist("failed_principles"),
            "reason": post.get("reason", ""),
        }

    def clean(self, item, project, swapped, data, errors):
        thumbs = data.get("thumbs")
        if thumbs not in Thumbs.values:
            errors["thumbs"] = "choose thumbs up or thumbs down"
        failed = data.get("failed_principles") or []
        if isinstance(failed, str):
            failed = [failed]
        if not isinstance(failed, list):
            errors["failed_principles"] = "failed principles must be a list"
            failed = []
        unknown = [p for p in failed if p not in project.principles]
        if unknown:
            errors["failed_principles"] = f"not principles of this project: {', '.join(map(str, unknown))}"
        if failed and thumbs == Thumbs.UP:
            msg = "a response that fails a principle gets thumbs down"
            errors["failed_principles"] = (
                f"{errors['failed_principles']}; {msg}" if "failed_principles" in errors else msg
            )
        return {
            "thumbs": thumbs if thumbs in Thumbs.values else "",
            "failed_principles": [p for p in project.principles if p in failed],
            "reason": fields.text(data.get("reason"), "reason", errors),
        }

    def form_values(self, annotation, swapped):
        return {
            "thumbs": annotation.thumbs,
            "failed_principles": list(annotation.failed_principles or []),
            "reason": annotation.reason,
        }

    def summary(self, annotation, swapped):
        if not annotation.thumbs:
            return ""
        failed = f" · fails {len(annotation.failed_principles)}" if annotation.failed_principles else ""
        return f"{Thumbs(annotation.thumbs).label}{failed}"

    gold_form_template = "annotate/_gold_binary.html"

    def gold_answer_from_form(self, item, post):
        return {"thumbs": post.get("thumbs")}

    def clean_gold_answer(self, item, answer):
        thumbs = (answer or {}).get("thumbs") if isinstance(answer, dict) else None
        if thumbs not in Thumbs.values:
            raise ValidationError('a binary gold answer is thumbs "up" or "down"')
        return {"thumbs": thumbs}

    def gold_correct(self, item, label):
        answer = item.gold_answer or {}
        thumbs = value(label, "thumbs")
        if not thumbs or "thumbs" not in answer:
            return None
        return thumbs == answer["thumbs"]

    def gold_verdict(self, item, swapped):
        return GoldVerdict(Thumbs((item.gold_answer or {})["thumbs"]).label, "the thumbs must match")

    def direction(self, label):
        thumbs = value(label, "thumbs")
        if not thumbs:
            return None
        return 1 if thumbs == Thumbs.UP else -1

    def agreement_values(self, label):
        d = self.direction(label)
        return {} if d is None else {"": d}
