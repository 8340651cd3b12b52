"""Ranking: 3–9 responses to one prompt put in order, ties allowed (OpenAssistant, UltraFeedback,
Argilla's RankingQuestion).

Storage: the item's responses in canonical order are `ItemResponse` rows (position 0 is also
`response_a`, 1 `response_b`); a label is `Annotation.ranking`, the rank of each response in that
order, 1 best, ties sharing a rank, normalised to dense ranks ([3, 1, 3] → [2, 1, 2]). A swapped
assignment shows the responses in reverse, so position bias stays measurable as for pairs.

It exports as every implied pair (chosen ranked above rejected) with the rank difference as margin;
agreement is Krippendorff's α, ordinal, over one unit per (item, response). An LM judge gets one
request with the responses numbered in canonical order; its ranking is stored like a person's."""

from itertools import combinations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.kinds import fields, judge_prompts
from annotate.kinds.base import Consensus, ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import RATIONALE_KEYS, Parsed, first_with, json_objects, text_of, unparsed, unparsed_fields
from annotate.kinds.replies import parse as parse_reply
from annotate.kinds.scale import sign
from annotate.kinds.snapshot import rationales
from annotate.models import FeedbackKind, Item, ItemResponse, Response
from annotate.strict_input import strict_int

MIN_RESPONSES, MAX_RESPONSES = 3, 9

JUDGE_PROMPT = """Rank $count responses to the same conversation, best first.

[Conversation]
$prompt

$responses

Aspects to weigh: $aspects.
Write a short rationale, then reply with exactly one JSON object listing every response number
once, best first; put responses of equal quality together in an inner list (a tie):
{"rationale": "<one or two sentences>", "ranking": [<best>, ..., <worst>]}
e.g. {"rationale": "...", "ranking": [2, [1, 3]]}"""


def letter(position: int) -> str:
    return chr(ord("A") + position)


def dense(ranks: list[int]) -> list[int]:
    """Ranks renumbered 1, 2, ... keeping order and ties: [3, 1, 3] → [2, 1, 2]."""
    order = {r: i + 1 for i, r in enumerate(sorted(set(ranks)))}
    return [order[r] for r in ranks]


def ranks_from_order(order: list) -> list[int]:
    """[best, ..., worst] positions (an entry may be a list of tied positions) → rank per position."""
    ranks: dict[int, int] = {}
    for rank, entry in enumerate(order, start=1):
        for position in entry if isinstance(entry, (list, tuple)) else [entry]:
            ranks[position] = rank
    return [ranks[p] for p in sorted(ranks)]


def implied_pairs(ranks: list[float]) -> list[tuple[int, int, float]]:
    """(better position, worse position, rank difference) for every pair the ranking orders; ties give none."""
    out = []
    for i, j in combinations(range(len(ranks)), 2):
        if ranks[i] == ranks[j]:
            continue
        better, worse = (i, j) if ranks[i] < ranks[j] else (j, i)
        out.append((better, worse, round(abs(ranks[i] - ranks[j]), 4)))
    return out


def mean_ranks(rankings: list[list[int]]) -> list[float] | None:
    """The consensus of several rankings of one item: the mean rank of each response."""
    rankings = [r for r in rankings if r]
    if not rankings or len({len(r) for r in rankings}) != 1:
        return None
    return [round(sum(col) / len(col), 4) for col in zip(*rankings)]


def responses_of(item) -> list[Response]:
    """The item's responses in canonical order."""
    return [ir.response for ir in ItemResponse.objects.filter(item=item).select_related("response")]


@transaction.atomic
def create_item(project, prompt, responses: list[Response], **fields) -> Item:
    """A ranking item over `responses` (3–9, distinct), in that canonical order."""
    if not MIN_RESPONSES <= len(responses) <= MAX_RESPONSES:
        raise ValidationError(f"a ranking has {MIN_RESPONSES} to {MAX_RESPONSES} responses, not {len(responses)}")
    item = Item.objects.create(
        project=project,
        prompt=prompt,
        kind=FeedbackKind.RANKING,
        response_a=responses[0],
        response_b=responses[1],
        **fields,
    )
    ItemResponse.objects.bulk_create(ItemResponse(item=item, response=r, position=i) for i, r in enumerate(responses))
    return item


def parse_ranking(text, n):
    """{"ranking": [rank per response 1..n], "rationale": str} from a JSON `ranking` list of response
    numbers best first (an inner list is a tie). Every response must appear exactly once."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    obj = first_with(json_objects(text), ("ranking", "order"))
    if obj is None:
        return unparsed("no JSON object with a ranking")
    order = obj.get("ranking", obj.get("order"))
    if not isinstance(order, list) or not order:
        return unparsed(f"ranking {order!r} is not a list of response numbers")
    ranks: dict[int, int] = {}
    for rank, entry in enumerate(order, start=1):
        for number in entry if isinstance(entry, list) else [entry]:
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= n:
                return unparsed(f"{number!r} is not a response number 1..{n}")
            if number in ranks:
                return unparsed(f"response {number} is ranked twice")
            ranks[number] = rank
    if len(ranks) != n:
        missing = sorted(set(range(1, n + 1)) - set(ranks))
        return unparsed(f"responses {missing} are not ranked")
    return Parsed(
        True,
        {"ranking": dense([ranks[number] for number in range(1, n + 1)]), "rationale": text_of(obj, RATIONALE_KEYS)},
        source="json",
    )


def _order_text(ranks: list[int], shown: list[int]) -> str:
    """ "B > A = C": display letters from best to worst (`shown[i]` is display slot of position i)."""
    groups: dict[int, list[str]] = {}
    for position, rank in enumerate(ranks):
        groups.setdefault(rank, []).append(letter(shown[position]))
    return " > ".join(" = ".join(sorted(g)) for _, g in sorted(groups.items()))


class RankingKind(FeedbackKindSpec):
    key = FeedbackKind.RANKING.value
    label = FeedbackKind.RANKING.label
    response_count = (MIN_RESPONSES, MAX_RESPONSES)
    form_template = "annotate/_form_ranking.html"
    keys = {
        "1…9": "give the focused response (or the first unranked one) that rank and move on",
        "Alt+↑ / Alt+↓": "move the focused response up or down",
        "r": "rationale",
    }
    label_fields = ("ranking", "rationale", "swapped")
    export = ExportShape("pair", "margin", 1.0)
    agreement_level = "ordinal"
    has_gold = True
    gold_form_template = "annotate/_gold_ranking.html"

    def display_responses(self, item, swapped):
        responses = responses_of(item)
        return responses[::-1] if swapped else responses

    def _display_slots(self, n: int, swapped: bool) -> list[int]:
        """Display slot of each canonical position."""
        return [n - 1 - p for p in range(n)] if swapped else list(range(n))

    def form_context(self, item, project, swapped, values):
        responses = self.display_responses(item, swapped)
        rows = [
            {"slot": i, "letter": letter(i), "response": r, "rank": values.get(f"rank:{i}", "")}
            for i, r in enumerate(responses)
        ]
        return {"ranked": rows, "rank_choices": range(1, len(responses) + 1)}

    def data_from_form(self, item, post):
        n = len(responses_of(item))
        return {"ranks": [post.get(f"rank:{i}", "") for i in range(n)], "rationale": post.get("rationale", "")}

    def clean(self, item, project, swapped, data, errors):
        n = len(responses_of(item))
        raw = data.get("ranks")
        ranks: list[int] = []
        if not isinstance(raw, list) or len(raw) != n:
            errors["ranks"] = f"rank all {n} responses"
        else:
            for slot, r in enumerate(raw):
                try:
                    rank = strict_int(r)
                except ValueError:
                    errors.setdefault("ranks", f"give response {letter(slot)} a rank from 1 to {n}")
                    continue
                if not 1 <= rank <= n:
                    errors.setdefault("ranks", f"response {letter(slot)}: a rank is 1 to {n}")
                    continue
                ranks.append(rank)
        ranking = None
        if not errors.get("ranks") and len(ranks) == n:
            shown = dense(ranks)
            slots = self._display_slots(n, swapped)
            ranking = [shown[slots[p]] for p in range(n)]
        return {
            "ranking": ranking,
            "rationale": fields.text(data.get("rationale"), "rationale", errors),
            "swapped": swapped,
        }

    def form_values(self, annotation, swapped):
        ranks = annotation.ranking or []
        slots = self._display_slots(len(ranks), swapped)
        values = {f"rank:{slots[p]}": str(rank) for p, rank in enumerate(ranks)}
        values["rationale"] = annotation.rationale
        return values

    def summary(self, annotation, swapped):
        ranks = annotation.ranking or []
        return _order_text(ranks, self._display_slots(len(ranks), swapped)) if ranks else ""

    # --- gold: the best response must match ------------------------------------------------------

    def gold_answer_from_form(self, item, post):
        return {"ranking": [part.strip() for part in str(post.get("ranking", "")).split(",")]}

    def clean_gold_answer(self, item, answer):
        n = len(responses_of(item))
        raw = answer.get("ranking") if isinstance(answer, dict) else None
        try:
            ranks = [strict_int(r) for r in raw] if isinstance(raw, list) else []
        except ValueError:
            ranks = []
        if len(ranks) != n or not all(1 <= r <= n for r in ranks):
            raise ValidationError(f"a ranking gold answer gives each of the {n} responses a rank from 1 (best) to {n}")
        return {"ranking": dense(ranks)}

    def gold_correct(self, item, label):
        answer = (item.gold_answer or {}).get("ranking")
        ranking = value(label, "ranking")
        if not answer or not ranking or len(answer) != len(ranking):
            return None
        best = {p for p, r in enumerate(answer) if r == 1}
        return {p for p, r in enumerate(ranking) if r == 1} == best

    def gold_verdict(self, item, swapped):
        answer = (item.gold_answer or {})["ranking"]
        return GoldVerdict(
            _order_text(answer, self._display_slots(len(answer), swapped)), "the best response must match"
        )

    # --- LM judges ------------------------------------------------------------------------------

    judge_templates = {
        "ranking": JudgeTemplate(JUDGE_PROMPT, frozenset({"prompt", "responses", "count", "aspects"})),
    }

    def judge_messages(self, item, responses, overrides=None):
        """Judge messages for a ranking: the responses numbered 1..n in the item's canonical order."""
        values = {
            "prompt": judge_prompts.conversation_text(item.prompt),
            "responses": "\n\n".join(f"[Response {i}]\n{r.text}" for i, r in enumerate(responses, start=1)),
            "count": str(len(responses)),
            "aspects": judge_prompts.aspects_text(item.project),
        }
        return judge_prompts.messages(self.judge_templates["ranking"], "ranking", overrides, values)

    def judge_requests(self, item, overrides):
        return [JudgeRequest("ranking", self.judge_messages(item, responses_of(item), overrides))]

    def judge_label(self, item, replies):
        (reply,) = replies
        parsed = parse_reply(parse_ranking, reply, len(responses_of(item)))
        if not parsed.ok:
            return unparsed_fields(reply, parsed)
        return {
            "ranking": parsed.label["ranking"],
            "rationale": parsed.label["rationale"],
            "details": {"raw": reply.raw, "source": parsed.source},
        }

    # --- curation --------------------------------------------------------------------------------

    def direction(self, label):
        """A against B (positions 0 and 1), like a pair: +1 when B is ranked above A."""
        ranking = value(label, "ranking")
        if not ranking or len(ranking) < 2:
            return None
        return sign(ranking[0] - ranking[1])

    def consensus(self, labels):
        ranks = mean_ranks([value(label, "ranking") for label in labels])
        if ranks is None:
            return Consensus()
        return Consensus(direction=sign(ranks[0] - ranks[1]), ranks=ranks)

    def agreement_values(self, label):
        ranking = value(label, "ranking")
        return dict(enumerate(ranking or []))

    def snapshot_rows(self, c):
        """Every pair the consensus ranking orders, as a pair row: chosen ranked above rejected, the
        margin their difference in mean rank."""
        if not c.ranks or len(c.texts) != len(c.ranks):
            return []
        return [
            {
                **c.base,
                "chosen": c.texts[better],
                "rejected": c.texts[worse],
                "margin": margin,
                "positions": [better, worse],
                "rationales": rationales(c.labels, c.generated_rationale),
                "p_noise": None,
                "n_labels": c.n_labels,
                "controversial": c.controversial,
            }
            for better, worse, margin in implied_pairs(c.ranks)
        ]
