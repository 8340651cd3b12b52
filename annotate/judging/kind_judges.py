"""How an LM judge labels an item, whatever its kind: the kind module says which requests to send
(`FeedbackKindSpec.judge_requests`) and how the replies become `Annotation` fields (`judge_label`);
this module only ties the requests to their item and hands the kind its replies as `Reply` values
(a failed request as its error). No kind is named here, so a new kind needs no change here.

A kind with no judge templates is not judged by language models (`judge_for` raises `UnknownKind`)."""

from dataclasses import dataclass

from annotate.judging.backends import RequestFailed
from annotate.kinds import registry
from annotate.kinds.base import FeedbackKindSpec
from annotate.kinds.registry import UnknownKind
from annotate.kinds.replies import Reply
from annotate.models import Item


@dataclass
class Request:
    item: Item
    role: str  # the kind's name for it: "ab", "ba" (pairwise orders), "binary", "edit", ...
    messages: list


def raw(reply):
    """What the item page shows of a reply; `error_detail` (the server's own body) only to admins."""
    if isinstance(reply, RequestFailed):
        return {"error": reply.error, **({"error_detail": reply.detail} if reply.detail else {})}
    return {"reply": reply}


def as_reply(reply) -> Reply:
    """A backend's reply (text, or `RequestFailed`) as the kinds read it."""
    if isinstance(reply, RequestFailed):
        return Reply(None, reply.error, raw(reply))
    return Reply(reply if isinstance(reply, str) else "", "", raw(reply))


@dataclass(frozen=True)
class KindJudge:
    """Requests for an item, and the label fields (with `details`) from their replies, same order."""

    spec: FeedbackKindSpec

    def requests(self, item: Item, overrides: dict) -> list[Request]:
        return [Request(item, r.role, r.messages) for r in self.spec.judge_requests(item, overrides)]

    def label(self, item: Item, replies: list) -> dict:
        return self.spec.judge_label(item, [as_reply(reply) for reply in replies])


def judge_for(kind: str) -> KindJudge:
    spec = registry.get(kind)
    if not spec.judge_templates:
        raise UnknownKind(f"LM judges cannot label {kind!r} items; they label {', '.join(sorted(registry.judged()))}")
    return KindJudge(spec)
