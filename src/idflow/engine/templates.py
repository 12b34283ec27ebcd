"""Dynamic values: ``{{ path }}`` placeholders in flow arguments, read from the context.

A placeholder names one dotted context path, with optional spaces inside the
braces: ``{{user.email}}`` or ``{{ client.items.0 }}``. Nothing else is
understood: there are no filters, no defaults, no expressions, and no code is
ever evaluated, so a flow document cannot run anything through a template.

Templates are compiled once per flow version and rendered on every run:

- A string that is exactly one placeholder renders to the value itself with its
  type kept (a dict stays a dict, 120 stays an int); a missing path gives None.
- Any other string interpolates the text form of each value (see
  `idflow.engine.conversions.to_text`): None and missing give ``""``, bools
  ``true``/``false``, dicts and lists compact JSON.
- A string without placeholders renders to itself.

A lone ``}}`` is plain text. ``{{`` must be closed by the next ``}}``, so a
placeholder cannot hold braces.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from idflow.engine.context import MISSING, PathParts, compile_path, lookup_parts
from idflow.engine.conversions import to_text
from idflow.errors import TemplateError

_OPEN: Final = "{{"
_CLOSE: Final = "}}"
_PATH = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_PATH_CHARS = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{{ path }}`` of a template.

    Attributes:
        path: the dotted context path, without braces or spaces.
        parts: the path split by `idflow.engine.context.compile_path`.
    """

    path: str
    parts: PathParts


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled string: literal text and placeholders, in order.

    Attributes:
        text: the source string.
        segments: literal strings and `Placeholder`s; empty literals are left out.
    """

    text: str
    segments: tuple[str | Placeholder, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The context paths the template reads, each once, in order of appearance."""
        return tuple(
            dict.fromkeys(s.path for s in self.segments if isinstance(s, Placeholder))
        )

    @property
    def is_static(self) -> bool:
        """Whether the template holds no placeholder and renders to its text."""
        return all(type(s) is str for s in self.segments)

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render against a context.

        Args:
            context: the flow context.

        Returns:
            The looked-up value when the whole text is one placeholder (None when
            missing), otherwise the interpolated string.
        """
        segments = self.segments
        if len(segments) == 1:
            only = segments[0]
            if isinstance(only, str):
                return only
            value = lookup_parts(context, only.parts)
            return None if value is MISSING else value

        # A plain loop: this runs for every templated argument of every step.
        texts: list[str] = []
        for segment in segments:
            if isinstance(segment, str):
                texts.append(segment)
            else:
                value = lookup_parts(context, segment.parts)
                texts.append(value if type(value) is str else to_text(value))

        return "".join(texts)


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """Compile a string into a reusable `Template`.

    Compiled templates are immutable and cached, so compiling the same text
    twice costs a dictionary lookup.

    Args:
        text: a string that may hold ``{{ path }}`` placeholders.

    Returns:
        The template.

    Raises:
        TemplateError: a ``{{`` is not closed, a placeholder is empty, or its
            path holds characters other than letters, digits, ``_``, ``.`` and
            ``-`` or an empty segment.
    """
    if _OPEN not in text:
        return Template(text, (text,))

    segments: list[str | Placeholder] = []
    position = 0
    while (start := text.find(_OPEN, position)) != -1:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end == -1:
            raise TemplateError(
                f"Template {text!r} has an unclosed '{{{{' at position {start}; expected '}}}}' after the path."
            )
        segments.append(text[position:start])
        segments.append(_placeholder(text, start, text[start + len(_OPEN) : end]))
        position = end + len(_CLOSE)
    segments.append(text[position:])

    return Template(text, tuple(s for s in segments if s != ""))


def _placeholder(text: str, start: int, inner: str) -> Placeholder:
    path = inner.strip()
    if not path:
        raise TemplateError(
            f"Template {text!r} has an empty placeholder at position {start}; expected a context path such as 'user.email'."
        )
    if not _PATH_CHARS.fullmatch(path):
        raise TemplateError(
            f"Template {text!r} has the path {path!r} at position {start}; expected only letters, digits, '_', '.' and '-'."
        )
    if not _PATH.fullmatch(path):
        raise TemplateError(
            f"Template {text!r} has the path {path!r} at position {start}; expected names joined by single dots."
        )

    return Placeholder(path, compile_path(path))


def template_paths(text: str) -> tuple[str, ...]:
    """List the context paths a string's placeholders read.

    Args:
        text: a string that may hold placeholders.

    Returns:
        Each path once, in order of appearance; empty without placeholders.

    Raises:
        TemplateError: the string is not a valid template.
    """
    return compile_template(text).paths


def render_template(text: str, context: Mapping[str, Any]) -> Any:
    """Compile (cached) and render a string in one call.

    Args:
        text: a string that may hold placeholders.
        context: the flow context.

    Returns:
        What `Template.render` returns.

    Raises:
        TemplateError: the string is not a valid template.
    """
    return compile_template(text).render(context)


@dataclass(frozen=True, slots=True)
class _Constant:
    value: Any

    def render(self, context: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _Object:
    items: tuple[tuple[str, _Node], ...]

    def render(self, context: Mapping[str, Any]) -> Any:
        return {key: node.render(context) for key, node in self.items}


@dataclass(frozen=True, slots=True)
class _Array:
    items: tuple[_Node, ...]

    def render(self, context: Mapping[str, Any]) -> Any:
        return [node.render(context) for node in self.items]


_Node = _Constant | Template | _Object | _Array


@dataclass(frozen=True, slots=True)
class CompiledValue:
    """A JSON value whose strings, at any depth, were compiled as templates.

    Attributes:
        source: the value as written in the flow.
        paths: every context path its templates read, each once.
    """

    source: Any
    paths: tuple[str, ...]
    _root: _Node

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render against a context.

        Dicts and lists are rebuilt on every call, so a caller may change the
        result without touching the compiled value. Dict keys are never
        templates.

        Args:
            context: the flow context.

        Returns:
            The value with each string rendered as `Template.render` does.
        """
        return self._root.render(context)


def compile_value(value: Any) -> CompiledValue:
    """Compile every string of a JSON value, such as a task's arguments.

    Args:
        value: a str, number, bool, None, or dicts and lists of them.

    Returns:
        The compiled value.

    Raises:
        TemplateError: one of its strings is not a valid template.
    """
    paths: dict[str, None] = {}
    root = _compile_node(value, paths)

    return CompiledValue(value, tuple(paths), root)


def _compile_node(value: Any, paths: dict[str, None]) -> _Node:
    if isinstance(value, str):
        template = compile_template(value)
        paths.update(dict.fromkeys(template.paths))
        return _Constant(value) if template.is_static else template
    if isinstance(value, Mapping):
        return _Object(
            tuple((str(k), _compile_node(v, paths)) for k, v in value.items())
        )
    if isinstance(value, list | tuple):
        return _Array(tuple(_compile_node(v, paths) for v in value))
    return _Constant(value)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a JSON value without keeping its compiled form.

    Prefer `compile_value` for anything rendered more than once.

    Args:
        value: a JSON value whose strings may hold placeholders.
        context: the flow context.

    Returns:
        What `CompiledValue.render` returns.

    Raises:
        TemplateError: one of its strings is not a valid template.
    """
    return compile_value(value).render(context)
