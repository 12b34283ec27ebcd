"""Value conversions shared by the engine: text and number forms, End output types.

`to_text` and `to_number` are the two coercions Descope applies everywhere: in
template interpolation, in condition operators and in End task outputs. They
follow the descope-js evaluator, which mirrors the Go server, so a number is
written without a trailing ``.0`` and ``true`` is the text of `True`.
`convert_output` turns a context value into the type an End task declares.
Pure functions, no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from idflow.engine.context import MISSING
from idflow.errors import ConversionError

OUTPUT_TYPES: Final = ("string", "number", "boolean", "object", "array")
"""The types an End task may declare for an output, in Descope's spelling."""

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Integral floats below this print as integers, as Go and JavaScript print a
# JSON number such as 120.0; past it every float would print with many digits.
_INTEGRAL_TEXT_LIMIT: Final = 1e16

# Long values are cut in error messages: they reach logs, which must not carry
# whole request bodies.
_SHOWN_CHARS: Final = 60


def to_json_text(value: Any) -> str:
    """Return the compact JSON text of a value, with non-ASCII kept as is.

    Args:
        value: JSON-like data; other objects are written as their `str`.

    Returns:
        Text such as ``{"a":[1,2]}``.
    """
    try:
        return orjson.dumps(
            value, default=_json_default, option=orjson.OPT_NON_STR_KEYS
        ).decode()
    except orjson.JSONEncodeError:
        # orjson refuses integers past 64 bits; the standard library does not.
        return json.dumps(
            value, default=_json_default, separators=(",", ":"), ensure_ascii=False
        )


def _json_default(value: Any) -> Any:
    return None if value is MISSING else str(value)


def to_text(value: Any) -> str:
    """Return the text form of a value, as templates and operators see it.

    Args:
        value: any context value.

    Returns:
        ``""`` for None and `MISSING`, the string itself, ``"true"`` or
        ``"false"`` for a bool, the number's digits (``120`` for 120.0), compact
        JSON for a dict or a list, and `str` for anything else.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None or value is MISSING:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float_text(value)
    return _other_text(value)


def _other_text(value: Any) -> str:
    # Subclasses (a StrEnum, an IntEnum) land here, off the common path.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dict | list | tuple):
        return to_json_text(value)
    return str(value)


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < _INTEGRAL_TEXT_LIMIT:
        return str(int(value))
    return repr(value)


def to_number(value: Any) -> int | float | None:
    """Return the number a value stands for, or None when it is not numeric.

    Numeric means a finite int or float, a bool (1 or 0) or a non-blank string
    in decimal notation, surrounding spaces allowed; NaN and infinities are not
    numbers. An integer string gives an int, any other numeric string a float.

    Args:
        value: any context value.

    Returns:
        The int or float, or None.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _parse_number(value.strip())
    return None


def _parse_number(text: str) -> int | float | None:
    # Python's int() and float() also take "1_000", "nan" and non-ASCII digits;
    # the patterns keep to the plain decimal notation JSON and Go accept.
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def convert_output(key: str, value: Any, type_name: str) -> Any:
    """Convert the value of an End task output to its declared type.

    Args:
        key: the output's name, for the error message.
        value: the value taken from the context, possibly `MISSING`.
        type_name: one of `OUTPUT_TYPES`.

    Returns:
        A str, an int or float, a bool, a dict or a list.

    Raises:
        ConversionError: the type is unknown, or the value does not fit it;
            only ``string`` accepts None and `MISSING`.
    """
    converter = _CONVERTERS.get(type_name)
    if converter is None:
        expected = ", ".join(OUTPUT_TYPES)
        raise ConversionError(
            f"Output {key!r} has unknown type {type_name!r}; expected one of {expected}."
        )

    return converter(key, value)


def _to_string(key: str, value: Any) -> str:
    return to_text(value)


def _to_number(key: str, value: Any) -> int | float:
    number = to_number(value)
    if number is None:
        raise _mismatch(key, value, "a number", "a number or a numeric string")
    if isinstance(value, str) and isinstance(number, float) and number.is_integer():
        # "3.0" and "1e3" name whole numbers; give them as ints like "3" would be.
        return int(number) if abs(number) < _INTEGRAL_TEXT_LIMIT else number

    return number


def _to_boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    raise _mismatch(key, value, "a boolean", "true, false, 'true', 'false', 1 or 0")


def _to_object(key: str, value: Any) -> dict[str, Any]:
    parsed = _parse_json(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise _mismatch(key, value, "an object", "an object or a JSON object text")
    return parsed


def _to_array(key: str, value: Any) -> list[Any]:
    parsed = _parse_json(value) if isinstance(value, str) else value
    if isinstance(parsed, tuple):
        return list(parsed)
    if not isinstance(parsed, list):
        raise _mismatch(key, value, "an array", "an array or a JSON array text")
    return parsed


def _parse_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return MISSING


def _mismatch(key: str, value: Any, kind: str, expected: str) -> ConversionError:
    return ConversionError(
        f"Output {key!r} cannot be {kind}: got {_shown(value)}; expected {expected}."
    )


def _shown(value: Any) -> str:
    if value is MISSING:
        return "nothing (the context path is missing)"

    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return f"{text} ({type(value).__name__})"


_CONVERTERS: Final[dict[str, Callable[[str, Any], Any]]] = {
    "string": _to_string,
    "number": _to_number,
    "boolean": _to_boolean,
    "object": _to_object,
    "array": _to_array,
}
