"""The one redaction helper for logs and run traces: hide values under secret keys.

A key looks secret when, ignoring case, it contains one of ``password``,
``passwd``, ``secret``, ``token``, ``apikey``, ``api_key``, ``api-key``,
``authorization``, ``credential``, ``private``, ``cookie`` or ``session``, or
when it is ``key`` itself or ends in ``Key``, ``_key`` or ``-key``
(``managementKey``, ``signing_key``). Ids such as ``loginId``, ``userId`` and
``keyId`` are not secret. The rule errs towards hiding: ``publicKey`` and
``tokenExpiry`` are redacted too, and ``key`` is redacted wherever it appears,
End outputs included. Values are never inspected, only the keys above them.

Where the secret values themselves are known (a connector's decrypted secrets),
`scrub_values` also hides them wherever they occur inside text, such as an
error message that quotes a URL or a server's answer echoing a token.

This module touches nothing but the values it is handed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Final

REDACTED: Final = "[redacted]"
"""What a secret value is replaced with."""

_SECRET_PARTS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "credential",
    "private",
    "cookie",
    "session",
)


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Answer whether a value stored under this key must be hidden.

    Args:
        name: a mapping key or the last segment of a context path.

    Returns:
        True for secret-looking names, as the module docstring lists them.
    """
    lowered = name.lower()
    if lowered == "key" or name.endswith("Key") or lowered.endswith(("_key", "-key")):
        return True

    return any(part in lowered for part in _SECRET_PARTS)


# The leaves of JSON-like data, which `redact` returns as they are.
_LEAVES: Final = frozenset({str, int, float, bool, type(None)})


def redact(value: Any) -> Any:
    """Return a copy of a value with everything under a secret key replaced.

    Dicts, lists and tuples are rebuilt at every depth (tuples become lists),
    so the copy shares no container with the input and later changes to either
    never show in the other; strings, numbers and other leaves are shared.

    Args:
        value: JSON-like data, such as a context, an action's detail or headers.

    Returns:
        The copy, with `REDACTED` in place of each secret value, whatever its
        type.
    """
    kind = type(value)
    if kind in _LEAVES:
        # The usual leaves, told apart by their exact type: the Mapping check
        # below goes through the ABC machinery, slow for every string.
        return value
    if kind is dict or (
        kind is not list and kind is not tuple and isinstance(value, Mapping)
    ):
        copy = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_key(key):
                copy[key] = REDACTED
            elif type(item) in _LEAVES:
                # Not a call a leaf: most values in a run's inputs and outputs are.
                copy[key] = item
            else:
                copy[key] = redact(item)
        return copy
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


# Shorter values are not scrubbed: they would match ordinary text.
MIN_SCRUBBED_LENGTH = 4


def scrub_values(value: Any, secrets: Iterable[str]) -> Any:
    """Return a copy of a value with every known secret replaced inside its text.

    Args:
        value: JSON-like data, or a string, such as a message or a trace entry.
        secrets: the secret values to hide; those shorter than
            `MIN_SCRUBBED_LENGTH` are skipped.

    Returns:
        The copy, containers rebuilt as `redact` rebuilds them, with `REDACTED`
        in place of each occurrence of a secret in any string, keys included.
    """
    needles = sorted(
        {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SCRUBBED_LENGTH},
        key=len,
        reverse=True,
    )
    if not needles:
        return value
    return _scrub(value, needles)


def _scrub(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_scrub(k, needles): _scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, needles) for item in value]
    return value
