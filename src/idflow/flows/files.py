"""Reading flow files: YAML or JSON, authoring form or Descope export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from idflow.flows.authoring import compile_authoring, is_authoring_form
from idflow.flows.descope import normalize_document, parse_document
from idflow.flows.model import Flow
from idflow.flows.problems import Problem, raise_problems
from idflow.flows.validation import validate_flow


def decode_text(text: str, source: str) -> Any:
    """Decode JSON or YAML text (JSON is YAML, but orjson is stricter and faster).

    Raises:
        FlowDefinitionError: when the text is neither, naming the line at fault.
    """
    if source.endswith(".json"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise_problems([Problem(f"Not valid JSON: {exc}.", source)], repr(source))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise_problems([Problem(_yaml_message(exc), source)], repr(source))
    raise AssertionError("unreachable")  # pragma: no cover


def _yaml_message(exc: yaml.YAMLError) -> str:
    # PyYAML's own text spans several lines and calls the file "<unicode string>";
    # the problem already names the file, so say where and what in one sentence.
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"Not valid YAML: {exc}".rstrip(".") + "."
    return (
        f"Not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}."
    )


def document_from_data(data: Any, source: str) -> dict[str, Any]:
    """Turn decoded data in any accepted form into a v2 document."""
    if is_authoring_form(data):
        return compile_authoring(data, source)
    return normalize_document(data, source)


def load_flow_file(path: str | Path) -> tuple[dict[str, Any], Flow]:
    """Read, compile, parse and validate one flow file.

    Args:
        path: a `.yaml`, `.yml` or `.json` file in the authoring form or a
            Descope export (v1 or v2).

    Returns:
        The v2 document to store and the validated flow parsed from it.

    Raises:
        FlowDefinitionError: naming the file, task and field of every problem.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise_problems(
            [Problem(f"Cannot read the file: {exc.strerror}.", source)], repr(source)
        )
        raise AssertionError("unreachable") from exc  # pragma: no cover

    document = document_from_data(decode_text(text, source), source)
    flow = parse_document(document, source)
    validate_flow(flow, source)

    return document, flow
