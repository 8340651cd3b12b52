"""Value checks for imported rows: each raises `FieldError` naming the field, so the importer can
say exactly which file, line and field is wrong."""
import json
import math

from .content import normalise_messages


class FieldError(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def describe(value):
    """How a bad value is named in an error: its JSON type, plus a short excerpt of text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        excerpt = value if len(value) <= 40 else value[:37] + "..."
        return f"string {excerpt!r}" if value.strip() else "an empty string"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def is_missing(value):
    """Absent, null, NaN (pandas writes NaN for missing cells) or an empty CSV cell."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def maybe_json_list(value):
    """CSV cells hold lists as JSON text. Only a cell that parses as a JSON list is taken as one, so
    a response that merely starts with "[" stays text."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, list):
            return parsed
    return value


def no_nul(value, field):
    """PostgreSQL cannot store NUL in text or JSON; say so here rather than fail mid-write."""
    if "\x00" in value:
        raise FieldError(field, f"contains a NUL character (\\x00) at position {value.index(chr(0))}, which the database cannot store")
    return value


def text(row, field, required=True):
    value = row.get(field)
    if is_missing(value):
        if required:
            raise FieldError(field, "missing" if field not in row else f"expected a string, got {describe(value)}")
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {describe(value)}")
    if not value.strip():
        raise FieldError(field, "expected a non-empty string, got an empty string")
    return no_nul(value, field)


def _content_text(content, field):
    """Message content as text; TRL/OpenAI multimodal lists are accepted when every part is text."""
    if isinstance(content, str):
        return no_nul(content, field)
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return no_nul("".join(str(p.get("text", "")) for p in content), field)
    raise FieldError(field, f"expected text content, got {describe(content)}")


def messages(value, field):
    """A conversation [{role, content}, ...], normalised; content parts must all be text."""
    if not isinstance(value, (list, tuple)) or not value:
        raise FieldError(field, f"expected a non-empty list of messages, got {describe(value)}")
    cleaned = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise FieldError(f"{field}[{i}]", f"expected a message {{role, content}}, got {describe(message)}")
        if "role" not in message or "content" not in message:
            raise FieldError(f"{field}[{i}]", "a message needs both 'role' and 'content'")
        cleaned.append({"role": message["role"], "content": _content_text(message["content"], f"{field}[{i}].content")})
    try:
        return normalise_messages(cleaned)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


def text_or_messages(row, field):
    """A string, or a list of messages (TRL's conversational format). Returns (text, messages)."""
    value = row.get(field)
    if is_missing(value) and not isinstance(value, str):
        raise FieldError(field, "missing" if field not in row else f"expected a string or a list of messages, got {describe(value)}")
    value = maybe_json_list(value)
    if isinstance(value, str):
        if not value.strip():
            raise FieldError(field, "expected a string or a list of messages, got an empty string")
        return no_nul(value, field), None
    if isinstance(value, (list, tuple)):
        return None, messages(value, field)
    raise FieldError(field, f"expected a string or a list of messages, got {describe(value)}")


def json_list(row, field):
    value = maybe_json_list(row.get(field))
    if is_missing(value):
        raise FieldError(field, "missing" if field not in row else f"expected a list, got {describe(value)}")
    if not isinstance(value, (list, tuple)) or not value:
        raise FieldError(field, f"expected a non-empty list, got {describe(value)}")
    return list(value)


def number(value, field, required=False):
    if is_missing(value):
        if required:
            raise FieldError(field, f"expected a number, got {describe(value)}")
        return None
    if isinstance(value, bool):
        raise FieldError(field, f"expected a number, got {describe(value)}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise FieldError(field, f"expected a number, got {describe(value)}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(field, f"expected a number, got {describe(value)}")
    return value


def preference_strength(row, field):
    """HelpSteer2's −3..3 (negative: the first response is better); null means unlabelled."""
    value = number(row.get(field), field)
    if value is None:
        return None
    if value != int(value) or not -3 <= value <= 3:
        raise FieldError(field, f"expected an integer from -3 to 3, got {describe(row.get(field))}")
    return int(value)


_TRUE = {"true", "1", "yes", "up", "good", "+1"}
_FALSE = {"false", "0", "no", "down", "bad", "-1"}


def label(row, field):
    """Binary label → "up"/"down"; null or absent → None. CSV spellings (true/1/yes/up) accepted."""
    value = row.get(field)
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "up" if value else "down"
    if isinstance(value, (int, float)) and value in (0, 1):
        return "up" if value == 1 else "down"
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return "up" if value.strip().lower() in _TRUE else "down"
    raise FieldError(field, f"expected true or false, got {describe(value)}")


def metadata(row, field):
    value = row.get(field)
    if is_missing(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FieldError(field, "expected a JSON object, got text that is not JSON") from None
    if not isinstance(value, dict):
        raise FieldError(field, f"expected an object, got {describe(value)}")
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise FieldError(field, f"cannot be stored as JSON ({exc})") from None
    if "\\u0000" in encoded:
        raise FieldError(field, "contains a NUL character (\\u0000), which the database cannot store")
    return value
