"""The annotation API's shapes (annotate.views.api), for DRF and the OpenAPI schema.

Request bodies are read by `StrictJSONParser` (annotate.strict_input: no NaN, no duplicate keys, no
text the database cannot store) and checked by the services themselves (annotate.submit,
annotate.queue), which know each feedback kind's fields; the request serializers here document
them. Items are given in display order: "left"/"right" are what a person would see, and a
submitted preference refers to them, exactly as in the browser form.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from annotate.kinds import registry as kind_registry
from annotate.models import Assignment
from annotate.strict_input import InputError, loads_object


class StrictJSONParser(JSONParser):
    """A JSON object, read strictly; an InputError (a 400 with its message) otherwise."""

    def parse(self, stream, media_type=None, parser_context=None) -> dict[str, Any]:
        return loads_object(stream.read() if stream is not None else b"")


class TextSerializer(serializers.Serializer):
    text = serializers.CharField()


class PromptSerializer(serializers.Serializer):
    text = serializers.CharField()
    messages = serializers.JSONField(allow_null=True)


class AssignmentSerializer(serializers.Serializer):
    """The item leased to the annotator: pairwise items have left/right, rankings a list of responses,
    the others one response."""

    assignment = serializers.IntegerField(source="pk")
    item = serializers.IntegerField(source="item_id")
    kind = serializers.CharField(source="item.kind")
    leased_until = serializers.DateTimeField()
    prompt = PromptSerializer(source="item.prompt")
    draft = serializers.JSONField()
    left = TextSerializer(required=False)
    right = TextSerializer(required=False)
    response = TextSerializer(required=False)
    responses = TextSerializer(many=True, required=False)

    def to_representation(self, instance: Assignment) -> dict[str, Any]:
        item = instance.item
        out = {
            "assignment": instance.pk,
            "item": item.pk,
            "kind": item.kind,
            "leased_until": instance.leased_until.isoformat(),
            "prompt": {"text": item.prompt.text, "messages": item.prompt.messages},
            "draft": instance.draft,
        }
        # in display order, as the kind shows them (pairwise swapped for this annotator, ...)
        shown = kind_registry.get(item.kind).display_responses(item, instance.swapped)
        if len(shown) == 1:
            out["response"] = {"text": shown[0].text}
        elif len(shown) == 2:
            out["left"], out["right"] = {"text": shown[0].text}, {"text": shown[1].text}
        else:  # a ranking: ranks are submitted as "ranks", one per response in this order
            out["responses"] = [{"text": r.text} for r in shown]
        return out


class DoneSerializer(serializers.Serializer):
    done = serializers.BooleanField()
    assignment = serializers.IntegerField(allow_null=True)


class SubmitRequestSerializer(serializers.Serializer):
    """A label. `submission_id` makes a retried submit idempotent: the same id and label answer 200
    with the stored annotation; the same id with another label is a 409. The other fields depend on
    the item's kind (the browser form's names): preference, thumbs, rationale, edited_text, ..."""

    submission_id = serializers.UUIDField()
    time_spent_ms = serializers.IntegerField(required=False, min_value=0)
    preference = serializers.IntegerField(required=False)
    thumbs = serializers.ChoiceField(choices=["up", "down"], required=False)
    rationale = serializers.CharField(required=False, allow_blank=True)
    edited_text = serializers.CharField(required=False, allow_blank=True)
    accept_as_is = serializers.BooleanField(required=False)


class SubmitResponseSerializer(serializers.Serializer):
    annotation = serializers.IntegerField()
    created = serializers.BooleanField()


class SkipRequestSerializer(serializers.Serializer):
    reason = serializers.CharField()


class SkipResponseSerializer(serializers.Serializer):
    skipped = serializers.IntegerField()


class DraftResponseSerializer(serializers.Serializer):
    draft = serializers.IntegerField()
    leased_until = serializers.DateTimeField()


def request_body(request: Request) -> dict[str, Any]:
    """The parsed body, a JSON object (an empty body is {})."""
    data = request.data
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object")
    return data
