"""Thumbs up / down on one response, with the project's principles it fails and a reason.

A gold answer matches by thumbs. The direction is +1 up, −1 down. An LM judge answers yes/no for
every principle of the project (or, with none, one yes/no verdict)."""

import re

from django.core.exceptions import ValidationError

from annotate.kinds import fields, judge_prompts
from annotate.kinds.base import ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import (
    RATIONALE_KEYS,
    VERDICT_LINE,
    Parsed,
    first_with,
    json_objects,
    normalise,
    text_of,
    unparsed,
    unparsed_fields,
    yes_no,
)
from annotate.kinds.replies import parse as parse_reply
from annotate.kinds.snapshot import rationales
from annotate.models import FeedbackKind, Thumbs

JUDGE_PROMPT = """Check one response against each principle.

[Conversation]
$prompt

[Response]
$response

[Principles]
$principles

For every principle answer "yes" if the response follows it and "no" if it fails it.
Reply with exactly one JSON object:
{"principles": {"<principle>": "yes" or "no", ...}, "reason": "<why, one or two sentences>"}"""

JUDGE_PROMPT_NO_PRINCIPLES = """Is this response a good answer to the conversation (helpful, truthful, harmless)?

[Conversation]
$prompt

[Response]
$response

Reply with exactly one JSON object:
{"verdict": "yes" or "no", "reason": "<why, one or two sentences>"}"""

_LABELLED_LINE = re.compile(r"(?m)^[\s*>_-]*(?P<key>[^:\n]{1,200}?)\s*[:=]\s*\**\s*(?P<value>yes|no)\b", re.IGNORECASE)


def parse_binary(text, principles):
    """{"thumbs": up|down, "failed_principles": [...], "reason": str}. With principles every one must
    be answered yes/no (a principle left out is not assumed to pass); without, one yes/no verdict."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    objects = json_objects(text)
    if not principles:
        obj = first_with(objects, ("verdict", "answer", "thumbs"))
        if obj is not None:
            raw = next(obj[k] for k in ("verdict", "answer", "thumbs") if k in obj)
            said = {"up": True, "down": False}.get(str(raw).strip().lower(), yes_no(raw))
            if said is None:
                return unparsed(f"verdict {raw!r} is not yes/no")
            return Parsed(
                True,
                {"thumbs": "up" if said else "down", "failed_principles": [], "reason": text_of(obj, RATIONALE_KEYS)},
                source="json",
            )
        found = {yes_no(m.group(1)) for m in VERDICT_LINE.finditer(text)}
        if len(found) != 1 or None in found:
            return unparsed("no unambiguous yes/no verdict")
        said = found.pop()
        return Parsed(True, {"thumbs": "up" if said else "down", "failed_principles": [], "reason": ""}, source="text")

    wanted = {normalise(p): p for p in principles}
    answers, source, reason = {}, "", ""
    obj = first_with(objects, ("principles",))
    if obj is not None and isinstance(obj["principles"], dict):
        source, reason = "json", text_of(obj, RATIONALE_KEYS)
        for key, said in obj["principles"].items():
            if normalise(key) in wanted:
                answers[wanted[normalise(key)]] = yes_no(said)
    else:
        source = "text"
        for m in _LABELLED_LINE.finditer(text):
            key = normalise(m.group("key"))
            if key in wanted:
                previous = answers.get(wanted[key])
                said = yes_no(m.group("value"))
                answers[wanted[key]] = said if previous in (None, said) else "conflict"
    missing = [p for p in principles if answers.get(p) not in (True, False)]
    if missing:
        return unparsed(f"no clear yes/no for principles: {missing}")
    failed = [p for p in principles if answers[p] is False]
    label = {"thumbs": "down" if failed else "up", "failed_principles": failed, "reason": reason, "answers": answers}
    return Parsed(True, label, source=source)


class BinaryKind(FeedbackKindSpec):
    key = FeedbackKind.BINARY.value
    label = FeedbackKind.BINARY.label
    form_template = "annotate/_form_binary.html"
    keys = {"u d": "thumbs up · thumbs down", "1…9": "toggle the n-th principle it fails", "r": "reason"}
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

    # --- LM judges ----------------------------------------------------------------------------

    judge_templates = {
        "binary": JudgeTemplate(JUDGE_PROMPT, frozenset({"prompt", "response", "principles"})),
        "binary_no_principles": JudgeTemplate(JUDGE_PROMPT_NO_PRINCIPLES, frozenset({"prompt", "response"})),
    }

    def judge_messages(self, item, principles, overrides=None):
        values = {"prompt": judge_prompts.conversation_text(item.prompt), "response": item.response_a.text}
        if principles:
            values["principles"] = "\n".join(f"- {p}" for p in principles)
            return judge_prompts.messages(self.judge_templates["binary"], "binary", overrides, values)
        name = "binary_no_principles"
        return judge_prompts.messages(self.judge_templates[name], name, overrides, values)

    def judge_requests(self, item, overrides):
        return [JudgeRequest("binary", self.judge_messages(item, item.project.principles or [], overrides))]

    def judge_label(self, item, replies):
        (reply,) = replies
        parsed = parse_reply(parse_binary, reply, item.project.principles or [])
        if not parsed.ok:
            return unparsed_fields(reply, parsed)
        details = {"raw": reply.raw, "source": parsed.source, "answers": parsed.label.get("answers", {})}
        return {
            "thumbs": parsed.label["thumbs"],
            "failed_principles": parsed.label["failed_principles"],
            "reason": parsed.label["reason"],
            "details": details,
        }

    # --- curation ------------------------------------------------------------------------------

    def direction(self, label):
        thumbs = value(label, "thumbs")
        if not thumbs:
            return None
        return 1 if thumbs == Thumbs.UP else -1

    def agreement_values(self, label):
        d = self.direction(label)
        return {} if d is None else {"": d}

    def snapshot_rows(self, c):
        if not c.direction:
            return []
        principles = sorted({p for r in c.labels for p in (r.get("failed_principles") or [])})
        reasons = [r["reason"].strip() for r in c.labels if (r.get("reason") or "").strip()]
        return [
            {
                **c.base,
                "completion": c.text_a,
                "label": c.direction > 0,
                "failed_principles": principles,
                "reason": "\n".join(reasons),
                "rationales": rationales(c.labels, c.generated_rationale),
                "p_noise": c.p_noise,
                "n_labels": c.n_labels,
                "flipped": c.flipped,
                "controversial": c.controversial,
            }
        ]
