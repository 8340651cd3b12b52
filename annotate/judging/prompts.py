"""Judge prompt templates, one per feedback kind, overridable per judge (`LMJudge.prompt_templates`).

Templates use `string.Template` placeholders ($prompt, $response_a, ...). Substitution is a single
pass, so braces or dollar signs inside prompts and responses are inserted verbatim, never expanded.
An override is either a string (the user message) or {"system": ..., "user": ...}.
"""

from string import Template

from annotate.kinds.scale import PROMPT_TEXT as SCALE_TEXT

SYSTEM = (
    "You are a careful, impartial judge of AI assistant responses. Judge helpfulness, truthfulness "
    "and harmlessness. Do not let the order of the responses, their length or the assistant's name "
    "influence you. Always end with the JSON object you are asked for."
)

PAIRWISE = (
    """Compare two responses to the same conversation.

[Conversation]
$prompt

[Response A]
$response_a

[Response B]
$response_b

Aspects to weigh: $aspects.
Grade the preference on a 7-point scale:
"""
    + SCALE_TEXT
    + """.

Write a short rationale, then reply with exactly one JSON object:
{"rationale": "<one or two sentences>", "verdict": <integer from -3 to 3>}"""
)

BINARY = """Check one response against each principle.

[Conversation]
$prompt

[Response]
$response

[Principles]
$principles

For every principle answer "yes" if the response follows it and "no" if it fails it.
Reply with exactly one JSON object:
{"principles": {"<principle>": "yes" or "no", ...}, "reason": "<why, one or two sentences>"}"""

BINARY_NO_PRINCIPLES = """Is this response a good answer to the conversation (helpful, truthful, harmless)?

[Conversation]
$prompt

[Response]
$response

Reply with exactly one JSON object:
{"verdict": "yes" or "no", "reason": "<why, one or two sentences>"}"""

EDIT = """Rate the quality of a response and improve it with a minimal edit.

[Conversation]
$prompt

[Response]
$response

Rate its quality from 1 (poor) to 5 (excellent). Then rewrite it with the smallest changes that fix
its problems; if it needs no change, repeat it unchanged.
Reply with exactly one JSON object:
{"quality": <integer 1-5>, "rationale": "<what you changed and why>", "edited_text": "<the improved response>"}"""

RANKING = """Rank $count responses to the same conversation, best first.

[Conversation]
$prompt

$responses

Aspects to weigh: $aspects.
Write a short rationale, then reply with exactly one JSON object listing every response number
once, best first; put responses of equal quality together in an inner list (a tie):
{"rationale": "<one or two sentences>", "ranking": [<best>, ..., <worst>]}
e.g. {"rationale": "...", "ranking": [2, [1, 3]]}"""

LIKERT = """Rate one response on each aspect, from 0 to 4.

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

DEFAULTS = {
    "pairwise": {"system": SYSTEM, "user": PAIRWISE},
    "binary": {"system": SYSTEM, "user": BINARY},
    "binary_no_principles": {"system": SYSTEM, "user": BINARY_NO_PRINCIPLES},
    "edit": {"system": SYSTEM, "user": EDIT},
    "ranking": {"system": SYSTEM, "user": RANKING},
    "likert": {"system": SYSTEM, "user": LIKERT},
}
KINDS = tuple(DEFAULTS)
PLACEHOLDERS = {
    "pairwise": {"prompt", "response_a", "response_b", "aspects"},
    "binary": {"prompt", "response", "principles"},
    "binary_no_principles": {"prompt", "response"},
    "edit": {"prompt", "response"},
    "ranking": {"prompt", "responses", "count", "aspects"},
    "likert": {"prompt", "response", "aspects"},
}


def template_for(kind, overrides=None):
    """{"system": str, "user": str} for a kind, with the judge's overrides applied."""
    base = dict(DEFAULTS[kind])
    override = (overrides or {}).get(kind)
    if isinstance(override, str):
        base["user"] = override
    elif isinstance(override, dict):
        base.update({k: v for k, v in override.items() if k in ("system", "user") and isinstance(v, str)})
    return base


def validate_overrides(overrides):
    """Errors (list of str) for a judge's `prompt_templates`; empty when they are usable."""
    errors = []
    if not isinstance(overrides, dict):
        return ["prompt templates must be an object keyed by kind (pairwise, binary, edit, ranking)"]
    for kind, value in overrides.items():
        if kind not in DEFAULTS:
            errors.append(f"unknown template kind {kind!r}; use one of {', '.join(KINDS)}")
            continue
        user = value if isinstance(value, str) else (value or {}).get("user", DEFAULTS[kind]["user"])
        if not isinstance(user, str):
            errors.append(f"{kind}: the user template must be text")
            continue
        try:
            used = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(user)} - {None}
        except ValueError as exc:
            errors.append(f"{kind}: {exc}")
            continue
        unknown = used - PLACEHOLDERS[kind]
        if unknown:
            errors.append(f"{kind}: unknown placeholders {sorted(unknown)}; available {sorted(PLACEHOLDERS[kind])}")
    return errors


def conversation_text(prompt):
    """The conversation as plain text: multi-turn prompts keep their roles."""
    if prompt.messages:
        return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in prompt.messages)
    return prompt.text


def _messages(template, values):
    user = Template(template["user"]).safe_substitute(values)
    return [{"role": "system", "content": template["system"]}, {"role": "user", "content": user}]


def pairwise_messages(item, overrides=None, swapped=False):
    """Judge messages for a pair; `swapped` shows response B in the A slot (position-swap)."""
    first, second = (item.response_b, item.response_a) if swapped else (item.response_a, item.response_b)
    aspects = ", ".join(item.project.aspects or []) or "overall quality"
    values = {
        "prompt": conversation_text(item.prompt),
        "response_a": first.text,
        "response_b": second.text,
        "aspects": aspects,
    }
    return _messages(template_for("pairwise", overrides), values)


def binary_messages(item, principles, overrides=None):
    values = {"prompt": conversation_text(item.prompt), "response": item.response_a.text}
    if principles:
        values["principles"] = "\n".join(f"- {p}" for p in principles)
        return _messages(template_for("binary", overrides), values)
    return _messages(template_for("binary_no_principles", overrides), values)


def edit_messages(item, overrides=None):
    values = {"prompt": conversation_text(item.prompt), "response": item.response_a.text}
    return _messages(template_for("edit", overrides), values)


def ranking_messages(item, responses, overrides=None):
    """Judge messages for a ranking: the responses numbered 1..n in the item's canonical order."""
    values = {
        "prompt": conversation_text(item.prompt),
        "responses": "\n\n".join(f"[Response {i}]\n{r.text}" for i, r in enumerate(responses, start=1)),
        "count": str(len(responses)),
        "aspects": ", ".join(item.project.aspects or []) or "overall quality",
    }
    return _messages(template_for("ranking", overrides), values)


def likert_messages(item, aspects, overrides=None):
    values = {
        "prompt": conversation_text(item.prompt),
        "response": item.response_a.text,
        "aspects": "\n".join(f"- {a}" for a in aspects),
    }
    return _messages(template_for("likert", overrides), values)
