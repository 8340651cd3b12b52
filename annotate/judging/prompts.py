"""Judge prompt templates as a judge configures them (`LMJudge.prompt_templates`): the defaults and
placeholders come from the kinds (`FeedbackKindSpec.judge_templates`, read through the registry), so
a new kind's templates are known here without a change here. An override is either a string (the
user message) or {"system": ..., "user": ...}; `validate_overrides` checks one before it is saved.
"""

from string import Template

from annotate.kinds import registry
from annotate.kinds.judge_prompts import SYSTEM as SYSTEM


def defaults() -> dict[str, dict[str, str]]:
    """{template name: {"system", "user"}}: every registered kind's default templates."""
    return registry.judge_templates()


def placeholders() -> dict[str, frozenset[str]]:
    """{template name: the placeholders its user message may use}."""
    return registry.judge_placeholders()


def validate_overrides(overrides):
    """Errors (list of str) for a judge's `prompt_templates`; empty when they are usable."""
    errors = []
    known, allowed = defaults(), placeholders()
    if not isinstance(overrides, dict):
        return [f"prompt templates must be an object keyed by kind ({', '.join(known)})"]
    for kind, value in overrides.items():
        if kind not in known:
            errors.append(f"unknown template kind {kind!r}; use one of {', '.join(known)}")
            continue
        user = value if isinstance(value, str) else (value or {}).get("user", known[kind]["user"])
        if not isinstance(user, str):
            errors.append(f"{kind}: the user template must be text")
            continue
        try:
            used = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(user)} - {None}
        except ValueError as exc:
            errors.append(f"{kind}: {exc}")
            continue
        unknown = used - allowed[kind]
        if unknown:
            errors.append(f"{kind}: unknown placeholders {sorted(unknown)}; available {sorted(allowed[kind])}")
    return errors
