"""Edit the response: the annotator rewrites it (or accepts it as is). The diff and the edit
distance are derived here (`annotate.edits.derive`), never trusted from the client. Edits have no
gold (there is no single right edit) and no direction; they export as edited ≻ original."""

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate import edits
from annotate.kinds import fields
from annotate.kinds.base import ExportShape, FeedbackKindSpec
from annotate.models import FeedbackKind


class EditKind(FeedbackKindSpec):
    key = FeedbackKind.EDIT.value
    label = FeedbackKind.EDIT.label
    form_template = "annotate/_form_edit.html"
    actions_template = "annotate/_actions_edit.html"
    after_form_template = "annotate/_after_edit.html"
    result_template = "annotate/_edit_result.html"
    keys = {"e": "edit the response"}
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

    def clean_gold_answer(self, item, answer):
        raise ValidationError("edit items cannot be gold: there is no single right edit")
