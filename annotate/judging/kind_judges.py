"""How an LM judge labels each feedback kind: which requests it sends for an item and how the
replies become `Annotation` fields. The judging-side twin of `annotate.kinds`, keyed by the same
kind key (judging sits above the kinds, so the kinds never import this).

A kind with no entry here is not judged by language models (`judges_for` raises `UnknownKind`)."""

from dataclasses import dataclass

from annotate.judging import parsing, prompts
from annotate.judging.backends import RequestFailed
from annotate.kinds import ranking
from annotate.kinds.likert import aspects_of
from annotate.kinds.registry import UnknownKind
from annotate.models import AnnotationStatus, FeedbackKind, Item

SINGLE_ORDER_CONFIDENCE = 0.4  # one order parsed, the other not: position bias is uncontrolled


@dataclass
class Request:
    item: Item
    role: str  # "ab", "ba" (pairwise orders), "binary", "edit", "likert", "ranking"
    messages: list


def raw(reply):
    """What the item page shows of a reply; `error_detail` (the server's own body) only to admins."""
    if isinstance(reply, RequestFailed):
        return {"error": reply.error, **({"error_detail": reply.detail} if reply.detail else {})}
    return {"reply": reply}


def parse(parser, reply, *args):
    if isinstance(reply, RequestFailed):
        return parsing.unparsed(reply.error)
    return parser(reply, *args)


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


def _unparsed(reply, parsed):
    return {
        "status": AnnotationStatus.UNPARSED,
        "details": {"raw": raw(reply), "source": parsed.source, "error": parsed.error},
    }


class KindJudge:
    """Requests for an item, and the label fields (with `details`) from their replies, same order."""

    def requests(self, item: Item, overrides: dict) -> list[Request]:
        raise NotImplementedError

    def label(self, item: Item, replies: list) -> dict:
        raise NotImplementedError


class PairwiseJudge(KindJudge):
    """Both orders, so position bias cancels (`combine_swap`)."""

    def requests(self, item, overrides):
        return [
            Request(item, "ab", prompts.pairwise_messages(item, overrides, swapped=False)),
            Request(item, "ba", prompts.pairwise_messages(item, overrides, swapped=True)),
        ]

    def label(self, item, replies):
        ab, ba = replies
        fields, details = combine_swap(parse(parsing.parse_pairwise, ab), parse(parsing.parse_pairwise, ba))
        details["raw"] = {"ab": raw(ab), "ba": raw(ba)}
        return {**fields, "details": details}


class BinaryJudge(KindJudge):
    def requests(self, item, overrides):
        return [Request(item, "binary", prompts.binary_messages(item, item.project.principles or [], overrides))]

    def label(self, item, replies):
        (reply,) = replies
        parsed = parse(parsing.parse_binary, reply, item.project.principles or [])
        if not parsed.ok:
            return _unparsed(reply, parsed)
        details = {"raw": raw(reply), "source": parsed.source, "answers": parsed.label.get("answers", {})}
        return {
            "thumbs": parsed.label["thumbs"],
            "failed_principles": parsed.label["failed_principles"],
            "reason": parsed.label["reason"],
            "details": details,
        }


class EditJudge(KindJudge):
    def requests(self, item, overrides):
        return [Request(item, "edit", prompts.edit_messages(item, overrides))]

    def label(self, item, replies):
        (reply,) = replies
        parsed = parse(parsing.parse_edit, reply)
        if not parsed.ok:
            return _unparsed(reply, parsed)
        ratings = {"quality": parsed.label["quality"]} if parsed.label["quality"] is not None else {}
        return {
            "edited_text": parsed.label["edited_text"],
            "rationale": parsed.label["rationale"],
            "aspect_ratings": ratings,
            "details": {"raw": raw(reply), "source": parsed.source},
        }


class RankingJudge(KindJudge):
    """One request with the responses in canonical order; the ranking is stored like a person's."""

    def requests(self, item, overrides):
        return [Request(item, "ranking", prompts.ranking_messages(item, ranking.responses_of(item), overrides))]

    def label(self, item, replies):
        (reply,) = replies
        parsed = parse(parsing.parse_ranking, reply, len(ranking.responses_of(item)))
        if not parsed.ok:
            return _unparsed(reply, parsed)
        return {
            "ranking": parsed.label["ranking"],
            "rationale": parsed.label["rationale"],
            "details": {"raw": raw(reply), "source": parsed.source},
        }


class LikertJudge(KindJudge):
    """One request: the 0-4 ratings on every aspect of the project (`annotate.kinds.likert`)."""

    def requests(self, item, overrides):
        return [Request(item, "likert", prompts.likert_messages(item, aspects_of(item.project), overrides))]

    def label(self, item, replies):
        (reply,) = replies
        parsed = parse(parsing.parse_likert, reply, aspects_of(item.project))
        if not parsed.ok:
            return _unparsed(reply, parsed)
        return {
            "likert_ratings": parsed.label["ratings"],
            "rationale": parsed.label["rationale"],
            "details": {"raw": raw(reply), "source": parsed.source},
        }


JUDGES: dict[str, KindJudge] = {
    FeedbackKind.PAIRWISE.value: PairwiseJudge(),
    FeedbackKind.BINARY.value: BinaryJudge(),
    FeedbackKind.EDIT.value: EditJudge(),
    FeedbackKind.RANKING.value: RankingJudge(),
    FeedbackKind.LIKERT.value: LikertJudge(),
}


def judge_for(kind: str) -> KindJudge:
    try:
        return JUDGES[str(kind)]
    except KeyError:
        raise UnknownKind(f"LM judges cannot label {kind!r} items; they label {', '.join(sorted(JUDGES))}") from None
