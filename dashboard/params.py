"""Reading request input: JSON bodies and query strings, turned into clean values or 4xx.

Everything is validated with obsmem.model's clean_* helpers so the HTTP API and
the Python API refuse exactly the same things with the same field names.
"""

from __future__ import annotations

from typing import Any

from flask import request

from dashboard.errors import ApiError
from obsmem.model import (
    MAX_K,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    ValidationError,
    clean_bool,
    clean_int,
    clean_name,
    clean_text,
    iso_to_ms,
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; 415 when it is not JSON, 400 when it is not an object."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON object body is required", code="invalid", field="body")
        return {}
    if not request.is_json:
        raise ApiError(415, "send the body as application/json")
    try:
        data = request.get_json(force=True, silent=False)
    except Exception:
        raise ApiError(400, "the body is not valid JSON", code="invalid", field="body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid", field="body")
    return data


def unknown_keys(data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValidationError(extra[0], f"unknown field; allowed: {', '.join(sorted(allowed))}")


def arg_bool(name: str, value: Any = None) -> bool | None:
    """A boolean from a query string ("true"/"1"/...) or from JSON (a real bool)."""
    if value is None:
        value = request.args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValidationError(name, "must be true or false")
    return clean_bool(value, name)


def arg_name(name: str, value: Any = None) -> str | None:
    if value is None:
        value = request.args.get(name)
    return clean_name(value, name)


def arg_query(name: str = "q", value: Any = None, *, required: bool = True) -> str | None:
    if value is None:
        value = request.args.get(name)
    text = clean_text(value, name, max_chars=MAX_QUERY_CHARS, required=required)
    return text.strip() if text else None


def arg_since(name: str = "since", value: Any = None) -> int | None:
    """An ISO-8601 time or epoch milliseconds."""
    if value is None:
        value = request.args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(name, "must be an ISO-8601 time or epoch milliseconds")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str) and value.strip().isdigit():
        ms = int(value.strip())
    elif isinstance(value, str):
        try:
            ms = iso_to_ms(value, name)
        except (OverflowError, OSError):
            raise ValidationError(name, "is out of range") from None
    else:
        raise ValidationError(name, "must be an ISO-8601 time or epoch milliseconds")
    if not 0 <= ms <= 253_402_300_799_999:  # year 9999
        raise ValidationError(name, "is out of range")
    return ms


def arg_int(name: str, value: Any = None, *, default: int, lo: int, hi: int) -> int:
    if value is None:
        value = request.args.get(name)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return default
        # str.isdigit() accepts "²" and other digits int() refuses: ASCII only.
        if not (text.isascii() and text.lstrip("-").isdigit()):
            raise ValidationError(name, "must be a whole number")
        value = int(text)
    return clean_int(value, name, default=default, lo=lo, hi=hi)


def arg_limit(default: int = 20, value: Any = None) -> int:
    return arg_int("limit", value, default=default, lo=1, hi=MAX_LIMIT)


def arg_offset(value: Any = None) -> int:
    return arg_int("offset", value, default=0, lo=0, hi=MAX_OFFSET)


def arg_k(value: Any = None) -> int:
    return arg_int("k", value, default=5, lo=1, hi=MAX_K)


SORTS = ("created", "last_seen")


def arg_sort(name: str = "sort") -> str:
    """How a fix list is ordered: "created" (first seen, the default) or "last_seen"."""
    value = (request.args.get(name) or "").strip() or "created"
    if value not in SORTS:
        raise ValidationError(name, "must be created or last_seen")
    return value
