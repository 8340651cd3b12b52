"""Edit the response: the annotator rewrites it (or accepts it as is). The diff and the edit
distance are derived here (`annotate.edits.derive`), never trusted from the client. Edits have no
gold (there is no single right edit) and no direction; they export as edited ≻ original. An LM
judge rates the response 1-5 and rewrites it with a minimal edit."""

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate import edits
from annotate.kinds import fields, judge_prompts
from annotate.kinds.base import ExportShape, FeedbackKindSpec
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import RATIONALE_KEYS, Parsed, first_with, json_objects, text_of, unparsed, unparsed_fields
from annotate.kinds.replies import parse as parse_reply
from annotate.kinds.snapshot import rationales
from annotate.models import FeedbackKind

JUDGE_PROMPT = """Rate the quality of a response and improve it with a minimal edit.

[Conversation]
$prompt

[Response]
$response

Rate its quality from 1 (poor) to 5 (excellent). Then rewrite it with the smallest changes that fix
its problems; if it needs no change, repeat it unchanged.
Reply with exactly one JSON object:
{"quality": <integer 1-5>, "rationale": "<what you changed and why>", "edited_text": "<the improved response>"}"""


def parse_edit(text):
    """{"edited_text": str, "quality": 1..5 or None, "rationale": str}; the edited text is required."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    obj = first_with(json_objects(text), ("edited_text", "edited", "revision"))
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
        True, {"edited_text": edited, "quality": quality, "rationale": text_of(obj, RATIONALE_KEYS)}, source="json"
    )


class EditKind(FeedbackKindSpec):
    key = FeedbackKind.EDIT.value
    label = FeedbackKind.EDIT.label
    form_template = "annotate/_form_edit.html"
    actions_template = "annotate/_actions_edit.html"
    after_form_template = "annotate/_after_edit.html"
    result_template = "annotate/_edit_result.html"
    keys = {"e": "focus the editor · “Accept as is” stores the response unchanged"}
    label_fields = ("edited_text",)
    export = ExportShape("pair", "edit_distance", 0.0)

    def form_context(self, item, project, swapped, values):
        return {"edit_text": values.get("edited_text", item.response_a.text)}

    def data_from_form(self, item, post):
        return {"edited_text": post.get("edited_text", ""), "accept_as_is": post.get("accept_as_is", "")}

    def clean(self, item, project, swapped, data, errors):
        if fields.flag(data.get("accept_as_is")):
            # "Accept as is": the response needs no change. Stored as the response itself, byte for
            # byte (a zero-distance edit), which learning from edits (CIPHER) reads as "this
            # annotator is content with this".
            return {"edited_text": item.response_a.text or ""}
        original = (item.response_a.text or "").replace("\r\n", "\n").strip()
        edited = fields.text(
            data.get("edited_text"),
            "edited_text",
            errors,
            required=True,
            label="the edited response",
            limit=settings.TANDEM_MAX_EDIT_CHARS,
        )
        if edited and edited == original:
            # An unchanged submit is more often a slip than a verdict: the verdict has its own button.
            errors["edited_text"] = (
                "the edit is identical to the response; change it, choose “Accept as is”, or skip the item"
            )
        return {"edited_text": edited}

    def form_values(self, annotation, swapped):
        return {"edited_text": annotation.edited_text or ""}

    def summary(self, annotation, swapped):
        if not annotation.edit_distance:
            return "Accepted as is"
        return f"Edited (distance {annotation.edit_distance:.2f})"

    def derived_fields(self, item, fields):
        edited = fields.get("edited_text")
        if edited is None:
            return {}
        return edits.derive(item.response_a.text, edited)

    judge_templates = {"edit": JudgeTemplate(JUDGE_PROMPT, frozenset({"prompt", "response"}))}

    def judge_requests(self, item, overrides):
        values = {"prompt": judge_prompts.conversation_text(item.prompt), "response": item.response_a.text}
        return [JudgeRequest("edit", judge_prompts.messages(self.judge_templates["edit"], "edit", overrides, values))]

    def judge_label(self, item, replies):
        (reply,) = replies
        parsed = parse_reply(parse_edit, reply)
        if not parsed.ok:
            return unparsed_fields(reply, parsed)
        ratings = {"quality": parsed.label["quality"]} if parsed.label["quality"] is not None else {}
        return {
            "edited_text": parsed.label["edited_text"],
            "rationale": parsed.label["rationale"],
            "aspect_ratings": ratings,
            "details": {"raw": reply.raw, "source": parsed.source},
        }

    def clean_gold_answer(self, item, answer):
        raise ValidationError("edit items cannot be gold: there is no single right edit")

    def snapshot_rows(self, c):
        """One edited ≻ original pair per edit that changed the response."""
        return [
            {
                **c.base,
                "sources": [edit["annotator_kind"]],
                "chosen": edit["edited_text"],
                "rejected": c.text_a,
                "edit_distance": edit["edit_distance"] or 0.0,
                "rationales": rationales([edit], c.generated_rationale),
                "p_noise": None,
            }
            for edit in c.edits
        ]
