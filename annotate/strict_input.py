"""Strict reading of what clients send: JSON bodies, integers, text that the database can store.

Python's `json` is lenient where a database is not: it accepts `NaN` and `Infinity`, turns `1e400`
into infinity, keeps the last of duplicate keys, reads 400-digit integers and lone UTF-16
surrogates (`"\\ud800"`), and recurses until the interpreter gives up. PostgreSQL then refuses NUL
characters and surrogates in text and jsonb, and every one of these became a bare 500. Here each is
an `InputError` whose message says what was wrong, for a 400.
"""

import json
import math
import re
from typing import Any

from annotate.errors import Invalid

MAX_DEPTH = 32
# Integers beyond this lose precision in JavaScript clients and overflow bigint columns.
MAX_SAFE_INTEGER = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d{1,18}\s*")


class InputError(Invalid, ValueError):
    """What a client sent cannot be read or stored (a 400); still a ValueError for parsing callers."""


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def _constant(name):
    raise InputError(f"{name} is not a number JSON allows")


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"the number {text[:40]} is out of range")
    return value


def _int(text):
    if len(text.lstrip("-")) > 16:
        raise InputError(
            f"the integer {text[:20]}… has {len(text.lstrip('-'))} digits; at most ±{MAX_SAFE_INTEGER} is accepted"
        )
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise InputError(f"the integer {value} is out of range (at most ±{MAX_SAFE_INTEGER})")
    return value


def _where(path: str) -> str:
    return f'field "{path}"' if path else "the JSON"


def check_value(value: Any, where: str = "", max_depth: int = MAX_DEPTH) -> None:
    """Depth and storable text throughout a parsed JSON value (keys too), without recursion."""
    stack = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            raise InputError(f"{_where(path)} is nested more than {max_depth} levels deep")
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                raise InputError(f"{_where(path)} {problem}")
        elif isinstance(node, float) and not math.isfinite(node):
            raise InputError(f"{_where(path)} is not a finite number")
        elif isinstance(node, dict):
            for key, child in node.items():
                problem = text_problem(key) if isinstance(key, str) else None
                if problem:
                    raise InputError(f"a key in {_where(path)} {problem}")
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON strictly; InputError says why it was refused."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            raw, object_pairs_hook=_no_duplicates, parse_constant=_constant, parse_float=_float, parse_int=_int
        )
    except RecursionError:
        raise InputError(f"the JSON is nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    check_value(value, "", max_depth)
    return value


def loads_object(raw: bytes | str, empty_ok: bool = True) -> dict:
    """A JSON object from a request body (an empty body is {} when empty_ok)."""
    if empty_ok and not (raw.strip() if isinstance(raw, (bytes, str)) else raw):
        return {}
    value = loads(raw)
    if not isinstance(value, dict):
        raise InputError("the body must be a JSON object")
    return value


def strict_int(value: Any) -> int:
    """A whole number from JSON (an int, not a bool or a float) or form text ("-2"); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")
