"""Value checks for imported rows: each raises `FieldError` naming the field, so the importer can
say exactly which file, line and field is wrong."""

import json
import math

from annotate.content import normalise_messages

MAX_INT = 2**63 - 1  # what PostgreSQL's bigint and every JSON reader hold exactly enough
MAX_DEPTH = 64  # nesting of stored JSON (metadata); deeper values are refused, not truncated


class FieldError(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


class DuplicateKey(ValueError):
    def __init__(self, key):
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _unique_pairs(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


class JsonConstant(float):
    """NaN or ±Infinity written as a JSON literal: not JSON at all, so an error wherever it is used,
    unlike the NaN pandas hands over for a missing Parquet cell."""


_CONSTANTS = {"NaN": JsonConstant("nan"), "Infinity": JsonConstant("inf"), "-Infinity": JsonConstant("-inf")}
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_CONSTANTS.__getitem__)


def loads(text):
    """json.loads that refuses duplicate keys ("last one wins" would drop data silently). Raises
    DuplicateKey, ValueError, or RecursionError for values nested about 1,000 deep."""
    return _DECODER.decode(text)


def describe(value):
    """How a bad value is named in an error: its JSON type, plus a short excerpt of text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int) and abs(value) > MAX_INT:
        return f"an integer of {len(str(abs(value)))} digits"
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
    """Absent, null, NaN (pandas writes NaN for missing cells; not a NaN literal in JSON) or an
    empty CSV cell."""
    if value is None:
        return True
    if type(value) is float and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def maybe_json_list(value, field=None):
    """CSV cells hold lists as JSON text. Only a cell that parses as a JSON list is taken as one, so
    a response that merely starts with "[" stays text."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = loads(value)
        except DuplicateKey as exc:
            raise FieldError(field, f"a JSON object in this cell has the key {exc.key!r} twice") from None
        except RecursionError:
            raise FieldError(field, "JSON nested too deeply") from None
        except ValueError:
            return value
        if isinstance(parsed, list):
            return parsed
    return value


def storable(value, field):
    """Text the database can store: PostgreSQL cannot store NUL in text or JSON, and a lone UTF-16
    surrogate (JSON's "\\ud800" without its pair) is no character and cannot be encoded. Said here
    with the field, rather than failing mid-write. (Kept to C-speed checks: it runs on every text.)"""
    if "\x00" in value:
        raise FieldError(
            field,
            f"contains a NUL character (\\x00) at position {value.index(chr(0))}, which the database cannot store",
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FieldError(
                field,
                f"contains a lone surrogate (\\u{ord(value[exc.start]):04x}) at position {exc.start}, "
                "which is not a character",
            ) from None
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
    return storable(value, field)


def _content_text(content, field):
    """Message content as text; TRL/OpenAI multimodal lists are accepted when every part is text."""
    if isinstance(content, str):
        return storable(content, field)
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return storable("".join(str(p.get("text", "")) for p in content), field)
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
        raise FieldError(
            field, "missing" if field not in row else f"expected a string or a list of messages, got {describe(value)}"
        )
    value = maybe_json_list(value, field)
    if isinstance(value, str):
        if not value.strip():
            raise FieldError(field, "expected a string or a list of messages, got an empty string")
        return storable(value, field), None
    if isinstance(value, (list, tuple)):
        return None, messages(value, field)
    raise FieldError(field, f"expected a string or a list of messages, got {describe(value)}")


def json_list(row, field):
    value = maybe_json_list(row.get(field), field)
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
    if isinstance(value, int):
        if abs(value) > MAX_INT:  # math.isfinite would raise OverflowError on it
            raise FieldError(field, f"expected a number, got {describe(value)}")
        return value
    if not isinstance(value, float) or not math.isfinite(value):
        raise FieldError(field, f"expected a finite number, got {describe(value)}")
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


def alpaca_preference(row, field):
    """AlpacaEval's verdict: 1 = output_1 better, 2 = output_2 better, 0 = a draw; a weighted judge
    writes 1 + P(output_2 better), anywhere from 1 to 2."""
    value = number(row.get(field), field)
    if value is None:
        return None
    if value != 0 and not 1 <= value <= 2:
        raise FieldError(
            field, f"expected 1 or 2 (0 for a draw, 1..2 from a weighted judge), got {describe(row.get(field))}"
        )
    return value


def metadata(row, field):
    value = row.get(field)
    if is_missing(value):
        return {}
    if isinstance(value, str):
        try:
            value = loads(value)
        except DuplicateKey as exc:
            raise FieldError(field, f"has the key {exc.key!r} twice") from None
        except RecursionError:
            raise FieldError(field, "JSON nested too deeply") from None
        except ValueError:
            raise FieldError(field, "expected a JSON object, got text that is not JSON") from None
    if not isinstance(value, dict):
        raise FieldError(field, f"expected an object, got {describe(value)}")
    return json_value(value, field)


def _path(field, key):
    return f"{field}.{key if len(key) <= 40 else key[:37] + '...'}"


def json_value(value, field, depth=0):
    """`value` when it can be stored as JSON as it is: finite numbers, integers within 64 bits,
    storable text (keys too), nested at most MAX_DEPTH deep. Otherwise FieldError with its path,
    e.g. "metadata.scores[2]"."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return storable(value, field)
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise FieldError(field, f"{describe(value)} is too large to store (at most 64 bits)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field, f"{value} is not a number JSON can hold")
        return value
    if depth >= MAX_DEPTH:
        raise FieldError(field, f"nested more than {MAX_DEPTH} deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(field, f"object keys must be text, got {describe(key)}")
            storable(key, _path(field, "<key>"))
            json_value(item, _path(field, key), depth + 1)
        return value
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            json_value(item, f"{field}[{i}]", depth + 1)
        return value
    raise FieldError(field, f"cannot be stored as JSON (a {type(value).__name__})")
