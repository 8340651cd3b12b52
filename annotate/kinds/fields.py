"""Cleaning of the free-text and rating fields every kind's submission may carry.

Errors are collected into a dict {field: message} so a form can show all of them at once."""

from django.conf import settings

from annotate.strict_input import strict_int, text_problem

RATING_MIN, RATING_MAX = 1, 5

Errors = dict[str, str]


def text(value, field: str, errors: Errors, required: bool = False, label: str | None = None, limit=None) -> str:
    """Free text (a rationale, a reason, an edit), capped at `limit` characters (default: the rationale cap)."""
    limit = limit or settings.TANDEM_MAX_RATIONALE_CHARS
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = f"{label or field} must be text"
        return ""
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        errors[field] = f"{label or field} is required"
    if len(value) > limit:
        errors[field] = f"{label or field} is {len(value)} characters long; at most {limit} are accepted"
        return ""
    problem = text_problem(value)
    if problem:
        errors[field] = f"{label or field} {problem}"
        return ""
    return value


def rating(value, where: str, errors: Errors) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = strict_int(value)
    except ValueError:
        errors[where] = f"rating must be a whole number {RATING_MIN}-{RATING_MAX}"
        return None
    if not RATING_MIN <= number <= RATING_MAX:
        errors[where] = f"rating must be {RATING_MIN}-{RATING_MAX}"
        return None
    return number


def flag(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"))
