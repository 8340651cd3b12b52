"""Likert ratings: one response rated 0–4 on each of the project's aspects (HelpSteer2's five —
helpfulness, correctness, coherence, complexity, verbosity — when the project names none).

Stored as `Annotation.likert_ratings` {aspect: 0..4}, every aspect rated, no other. A gold answer
may fix any subset of the aspects; a label matches when each of them is within ±1 (two careful
raters often differ by one point, HelpSteer2 §3). Agreement is Krippendorff's α at the ordinal
level, per aspect (`agreement_values` keys units by aspect, `agreement_per_unit_suffix`). No
direction: a rating of one response prefers nothing.

Exports: the curated row's attributes are the mean rating per aspect of the primary labels; the
`attributes` format gives SteerLM rows (rounded ints and the "helpfulness:4,correctness:3,…"
string HelpSteer2 and NeMo-Aligner's SteerLM read), the `regression` format the per-aspect
targets a multi-head reward model regresses on.
"""

from django.core.exceptions import ValidationError

from annotate.kinds import judge_prompts
from annotate.kinds.base import ExportShape, FeedbackKindSpec, GoldVerdict, value
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import (
    RATIONALE_KEYS,
    Parsed,
    first_with,
    json_objects,
    normalise,
    text_of,
    unparsed,
    unparsed_fields,
)
from annotate.kinds.replies import parse as parse_reply
from annotate.kinds.snapshot import rationales
from annotate.models import FeedbackKind
from annotate.strict_input import strict_int

LIKERT_MIN, LIKERT_MAX = 0, 4
LIKERT_DOMAIN = list(range(LIKERT_MIN, LIKERT_MAX + 1))
# HelpSteer2's attributes, in its column order (the attribute string keeps this order).
HELPSTEER2_ASPECTS = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
GOLD_TOLERANCE = 1
FIELD_PREFIX = "likert:"

JUDGE_PROMPT = """Rate one response on each aspect, from 0 to 4.

[Conversation]
$prompt

[Response]
$response

[Aspects]
$aspects

Use whole numbers: 0 = very poor, 1 = poor, 2 = fair, 3 = good, 4 = excellent (for complexity and
verbosity: 0 = very little, 4 = a great deal). Rate every aspect listed, and no other.
Reply with exactly one JSON object:
{"ratings": {"<aspect>": <integer 0-4>, ...}, "rationale": "<one or two sentences>"}"""


def aspects_of(project) -> list[str]:
    """The aspects a Likert item of this project is rated on: the project's, else HelpSteer2's."""
    return list(project.aspects or HELPSTEER2_ASPECTS)


def attribute_string(attributes: dict, order=None) -> str:
    """HelpSteer2's "helpfulness:4,correctness:3,…" (SteerLM's attribute conditioning string)."""
    names = [a for a in (order or attributes) if a in attributes]
    return ",".join(f"{name}:{attributes[name]}" for name in names)


def clean_ratings(ratings, aspects, errors: dict, field: str = "likert_ratings") -> dict:
    """{aspect: int 0..4} for exactly `aspects`; problems go into `errors` under `field`."""
    if not isinstance(ratings, dict):
        errors[field] = "Likert ratings must be a mapping {aspect: 0-4}"
        return {}
    problems, out = [], {}
    unknown = [str(name) for name in ratings if name not in aspects]
    if unknown:
        problems.append(f"not aspects of this project: {', '.join(unknown)} (its aspects: {', '.join(aspects)})")
    missing = [a for a in aspects if ratings.get(a) in (None, "")]
    if missing:
        problems.append(f"rate every aspect; missing: {', '.join(missing)}")
    for aspect in aspects:
        raw = ratings.get(aspect)
        if raw in (None, ""):
            continue
        try:
            number = strict_int(raw)
        except ValueError:
            number = None
        if number is None or not LIKERT_MIN <= number <= LIKERT_MAX:
            problems.append(f"{aspect} must be a whole number {LIKERT_MIN}-{LIKERT_MAX}; got {str(raw)[:20]!r}")
            continue
        out[aspect] = number
    if problems:
        errors[field] = "; ".join(problems)
    return out


def parse_likert(text, aspects):
    """{"ratings": {aspect: 0..4} for exactly `aspects`, "rationale": str}. A reply missing an
    aspect, naming another, or rating outside 0-4 (or not a whole number) is Unparsed."""
    if not isinstance(text, str) or not text.strip():
        return unparsed("empty reply")
    wanted = {normalise(a): a for a in aspects}
    obj = first_with(json_objects(text), ("ratings",))
    ratings = obj.get("ratings") if obj is not None else None
    if not isinstance(ratings, dict):
        # A flat object of the aspects themselves ({"helpfulness": 3, ...}) is as clear.
        obj = next((o for o in json_objects(text) if {normalise(k) for k in o} & set(wanted)), None)
        ratings = obj
    if not isinstance(ratings, dict):
        return unparsed("no JSON object with ratings")
    out, extra = {}, []
    for key, raw in ratings.items():
        name = wanted.get(normalise(key))
        if name is None:
            if obj is ratings and normalise(key) in RATIONALE_KEYS:
                continue
            extra.append(str(key))
            continue
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not float(raw).is_integer():
            return unparsed(f"{name}: {raw!r} is not a whole number 0-4")
        if not 0 <= raw <= 4:
            return unparsed(f"{name}: {raw!r} is outside 0-4")
        out[name] = int(raw)
    if extra:
        return unparsed(f"not aspects asked for: {', '.join(extra)}")
    missing = [a for a in aspects if a not in out]
    if missing:
        return unparsed(f"no rating for: {', '.join(missing)}")
    rationale = text_of(obj, RATIONALE_KEYS) if obj is not None else ""
    return Parsed(True, {"ratings": out, "rationale": rationale}, source="json")


class LikertKind(FeedbackKindSpec):
    key = FeedbackKind.LIKERT.value
    label = FeedbackKind.LIKERT.label
    form_template = "annotate/_form_likert.html"
    keys = {
        "0…4": "rate the focused aspect (or the first unrated one) and move on",
        "g": "go to the first unrated aspect",
        "Tab / ←→": "next aspect / change the rating",
    }
    label_fields = ("likert_ratings",)
    export = ExportShape("attributes")
    export_formats = ("attributes", "regression")
    agreement_level = "ordinal"
    agreement_domain = LIKERT_DOMAIN
    agreement_per_unit_suffix = True
    has_gold = True

    # --- the workspace -------------------------------------------------------------------------

    def form_context(self, item, project, swapped, values):
        aspects = aspects_of(project)
        return {
            "likert_rows": [(a, f"{FIELD_PREFIX}{a}", str(values.get(f"{FIELD_PREFIX}{a}", ""))) for a in aspects],
            "likert_points": [str(n) for n in LIKERT_DOMAIN],
        }

    def data_from_form(self, item, post):
        ratings = {
            name[len(FIELD_PREFIX) :]: raw for name, raw in post.items() if name.startswith(FIELD_PREFIX) and raw != ""
        }
        return {"likert_ratings": ratings}

    def clean(self, item, project, swapped, data, errors):
        return {"likert_ratings": clean_ratings(data.get("likert_ratings"), aspects_of(project), errors)}

    def form_values(self, annotation, swapped):
        return {f"{FIELD_PREFIX}{a}": str(v) for a, v in (annotation.likert_ratings or {}).items()}

    def summary(self, annotation, swapped):
        return attribute_string(annotation.likert_ratings or {})

    # --- gold ----------------------------------------------------------------------------------

    gold_form_template = "annotate/_gold_likert.html"

    def gold_form_context(self, project):
        return {"likert_aspects": aspects_of(project), "likert_points": LIKERT_DOMAIN}

    def gold_answer_from_form(self, item, post):
        return {a: post.get(f"{FIELD_PREFIX}{a}") for a in aspects_of(item.project) if post.get(f"{FIELD_PREFIX}{a}")}

    def clean_gold_answer(self, item, answer):
        if not isinstance(answer, dict) or not answer:
            raise ValidationError(
                f"a Likert gold answer rates at least one aspect {LIKERT_MIN}-{LIKERT_MAX}, e.g. {{'helpfulness': 3}}"
            )
        aspects = aspects_of(item.project)
        errors: dict = {}
        # Gold may fix a subset of the aspects: fill the rest in only to reuse the one validator.
        cleaned = clean_ratings({**dict.fromkeys(aspects, LIKERT_MIN), **answer}, aspects, errors, "gold")
        if errors:
            raise ValidationError(errors["gold"])
        return {a: cleaned[a] for a in aspects if a in answer}

    def gold_correct(self, item, label):
        answer = item.gold_answer or {}
        ratings = value(label, "likert_ratings") or {}
        shared = [a for a in answer if a in ratings]
        if not shared:
            return None
        return all(abs(int(ratings[a]) - int(answer[a])) <= GOLD_TOLERANCE for a in shared)

    def gold_verdict(self, item, swapped):
        answer = item.gold_answer or {}
        return GoldVerdict(attribute_string(answer, aspects_of(item.project)), "each aspect within ±1 of the answer")

    # --- LM judges ----------------------------------------------------------------------------

    judge_templates = {"likert": JudgeTemplate(JUDGE_PROMPT, frozenset({"prompt", "response", "aspects"}))}

    def judge_messages(self, item, aspects, overrides=None):
        values = {
            "prompt": judge_prompts.conversation_text(item.prompt),
            "response": item.response_a.text,
            "aspects": "\n".join(f"- {a}" for a in aspects),
        }
        return judge_prompts.messages(self.judge_templates["likert"], "likert", overrides, values)

    def judge_requests(self, item, overrides):
        """One request: the 0-4 ratings on every aspect of the project."""
        return [JudgeRequest("likert", self.judge_messages(item, aspects_of(item.project), overrides))]

    def judge_label(self, item, replies):
        (reply,) = replies
        parsed = parse_reply(parse_likert, reply, aspects_of(item.project))
        if not parsed.ok:
            return unparsed_fields(reply, parsed)
        return {
            "likert_ratings": parsed.label["ratings"],
            "rationale": parsed.label["rationale"],
            "details": {"raw": reply.raw, "source": parsed.source},
        }

    # --- curation ------------------------------------------------------------------------------

    def agreement_values(self, label):
        ratings = value(label, "likert_ratings") or {}
        return {aspect: v for aspect, v in ratings.items() if isinstance(v, int)}

    def aggregate(self, labels: list) -> dict:
        """The mean rating per aspect over an item's primary labels (people's, else models')."""
        sums: dict[str, list[int]] = {}
        for label in labels:
            for aspect, v in (value(label, "likert_ratings") or {}).items():
                if isinstance(v, int):
                    sums.setdefault(aspect, []).append(v)
        return {a: round(sum(vs) / len(vs), 4) for a, vs in sums.items()}

    def snapshot_rows(self, c):
        attributes = self.aggregate(c.labels)
        if not attributes:
            return []
        return [
            {
                **c.base,
                "completion": c.text_a,
                "attributes": attributes,
                "rationales": rationales(c.labels, c.generated_rationale),
                "p_noise": c.p_noise,
                "n_labels": c.n_labels,
                "controversial": c.controversial,
            }
        ]

    def export_columns(self, fmt):
        if fmt == "attributes":
            return {"attributes": "map<string,int>", "attribute_string": "string"}
        return {"aspects": "list<string>", "targets": "list<float>"}

    def export_row(self, fmt, data):
        attributes = data.get("attributes") or {}
        order = [a for a in HELPSTEER2_ASPECTS if a in attributes] + sorted(
            a for a in attributes if a not in HELPSTEER2_ASPECTS
        )
        if fmt == "attributes":
            # SteerLM conditions on whole points: the mean of several raters, rounded half up.
            rounded = {a: int(attributes[a] + 0.5) for a in order}
            return {"attributes": rounded, "attribute_string": attribute_string(rounded, order)}
        return {"aspects": order, "targets": [float(attributes[a]) for a in order]}
