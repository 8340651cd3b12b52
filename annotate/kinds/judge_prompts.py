"""Judge prompt templates: the shared system message and how a kind's template becomes messages.

Each kind declares its templates (`FeedbackKindSpec.judge_templates`, name -> JudgeTemplate) and
builds its requests from them with `messages`. Templates use `string.Template` placeholders
($prompt, $response_a, ...). Substitution is a single pass, so braces or dollar signs inside prompts
and responses are inserted verbatim, never expanded. A judge's override of a template is either a
string (the user message) or {"system": ..., "user": ...}; `annotate.judging.prompts` validates it.
"""

from dataclasses import dataclass
from string import Template

SYSTEM = (
    "You are a careful, impartial judge of AI assistant responses. Judge helpfulness, truthfulness "
    "and harmlessness. Do not let the order of the responses, their length or the assistant's name "
    "influence you. Always end with the JSON object you are asked for."
)


@dataclass(frozen=True)
class JudgeTemplate:
    """A default template and the placeholders an override of it may use."""

    user: str
    placeholders: frozenset[str]
    system: str = SYSTEM

    def as_dict(self) -> dict[str, str]:
        return {"system": self.system, "user": self.user}


@dataclass(frozen=True)
class JudgeRequest:
    """One request a kind sends for an item: `role` names it ("ab", "ba", "binary", ...)."""

    role: str
    messages: list


def apply_overrides(template: JudgeTemplate, name: str, overrides: dict | None) -> dict[str, str]:
    """{"system": str, "user": str} of a template with the judge's override of `name` applied."""
    base = template.as_dict()
    override = (overrides or {}).get(name)
    if isinstance(override, str):
        base["user"] = override
    elif isinstance(override, dict):
        base.update({k: v for k, v in override.items() if k in ("system", "user") and isinstance(v, str)})
    return base


def messages(template: JudgeTemplate, name: str, overrides: dict | None, values: dict) -> list[dict]:
    """The chat messages of a template (overridden by the judge) with `values` substituted."""
    chosen = apply_overrides(template, name, overrides)
    user = Template(chosen["user"]).safe_substitute(values)
    return [{"role": "system", "content": chosen["system"]}, {"role": "user", "content": user}]


def conversation_text(prompt) -> str:
    """The conversation as plain text: multi-turn prompts keep their roles."""
    if prompt.messages:
        return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in prompt.messages)
    return prompt.text


def aspects_text(project) -> str:
    """The project's aspects as a judge prompt lists them inline."""
    return ", ".join(project.aspects or []) or "overall quality"
