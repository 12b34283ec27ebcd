"""The flow context of a run: a nested dict read and written by dotted paths.

A run's context is plain JSON data::

    {"client": {...inputs}, "user": {...}, "tenant": {...},
     "triggeringEvent": {...}, "run": {...}, "<stepContextKey>": ...}

A path such as ``user.customAttributes.plan`` walks it one key at a time; a
segment of decimal digits such as the ``0`` of ``client.items.0`` indexes a list
(and is still an ordinary key when it meets a dict). Reading never raises: a
path that leads nowhere gives `MISSING`, which differs from a key holding
``None``. This module touches nothing but the mappings it is handed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from idflow.errors import ContextError

PathParts = tuple[str | int, ...]


class _MissingType:
    """The type of `MISSING`; it has exactly one instance."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"

    # Copies and pickles must give back the one instance, so `is MISSING` holds.
    def __copy__(self) -> _MissingType:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _MissingType:
        return self

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _MissingType()
"""What a lookup gives when the path leads nowhere; falsy, never equal to None."""


def _part(segment: str) -> str | int:
    # Only canonical numbers become indexes: "01" stays a key, so that
    # str(part) always gives back the segment when the part meets a dict.
    if segment.isdecimal() and segment.isascii() and str(int(segment)) == segment:
        return int(segment)
    return segment


@functools.lru_cache(maxsize=4096)
def compile_path(path: str) -> PathParts:
    """Split a dotted path once, turning canonical decimal segments into ints.

    Paths are not validated here: a segment that no context holds simply makes
    every lookup give `MISSING`. Results are cached, since flows reuse paths.

    Args:
        path: a dotted path such as ``user.customAttributes.plan``.

    Returns:
        The segments, for example ``("client", "items", 0)``.
    """
    return tuple(_part(segment) for segment in path.split("."))


def lookup_parts(context: Mapping[str, Any], parts: PathParts) -> Any:
    """Return the value at a compiled path, or `MISSING` when it leads nowhere.

    Args:
        context: the flow context, or any nested JSON-like mapping.
        parts: segments from `compile_path`.

    Returns:
        The value found, possibly ``None``; `MISSING` when a segment is absent,
        a list index is out of range or a scalar stands in the way.
    """
    node: Any = context
    for part in parts:
        # Exact-type tests first: JSON gives plain dicts and lists, and the
        # abstract-class check would cost more than the rest of the walk.
        kind = type(node)
        if kind is dict or (kind is not list and isinstance(node, Mapping)):
            node = node.get(part if type(part) is str else str(part), MISSING)
            if node is MISSING:
                return MISSING
        elif type(part) is int and (kind is list or kind is tuple):
            if part >= len(node):
                return MISSING
            node = node[part]
        else:
            return MISSING

    return node


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path, or `MISSING` when it leads nowhere.

    Args:
        context: the flow context.
        path: a dotted path; decimal segments index lists.

    Returns:
        The value found, possibly ``None``, or `MISSING`.
    """
    return lookup_parts(context, compile_path(path))


def assign(context: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, creating dicts for absent segments.

    A decimal segment that meets a list replaces the item at that index; it
    never grows the list.

    Args:
        context: the flow context, changed in place.
        path: a dotted path such as ``httpResult.body``.
        value: the value to store.

    Raises:
        ContextError: the path is empty, a scalar stands in the way, or a list
            index is out of range.
    """
    if not path:
        raise ContextError(
            "Context path '' is empty; expected a dotted path such as 'user.email'."
        )

    parts = compile_path(path)
    node: Any = context
    for depth, part in enumerate(parts[:-1]):
        child = _child(node, part, path)
        if child is MISSING or child is None:
            child = {}
            _store(node, part, child, path)
        elif not isinstance(child, MutableMapping | list):
            where = ".".join(str(p) for p in parts[: depth + 1])
            raise ContextError(
                f"Context path {path!r} cannot be written: {where!r} holds a {type(child).__name__}; expected a dict or a list."
            )
        node = child

    _store(node, parts[-1], value, path)


def _child(node: Any, part: str | int, path: str) -> Any:
    if isinstance(node, MutableMapping):
        return node.get(str(part), MISSING)
    if type(part) is not int:
        raise ContextError(
            f"Context path {path!r} cannot be written: segment {part!r} meets a list; expected a list index."
        )
    if part >= len(node):
        raise ContextError(
            f"Context path {path!r} cannot be written: index {part} is past the end of a list of {len(node)}; expected an existing index."
        )
    return node[part]


def _store(node: Any, part: str | int, value: Any, path: str) -> None:
    if isinstance(node, MutableMapping):
        node[str(part)] = value
        return

    _child(node, part, path)
    node[part] = value
