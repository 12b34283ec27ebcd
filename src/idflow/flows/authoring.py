"""The concise YAML (or JSON) authoring form, compiled to a Descope v2 document.

People who write flows by hand list steps in order instead of drawing edges::

    id: disable-inactive-user
    name: Disable an inactive user
    steps:
      - id: check
        if:
          - id: inactive
            when: client.daysInactive greater-than 90
            goto: disable
        else: keep
      - id: disable
        action: user-disable
        with: {userId: "{{ client.userId }}"}
        next: disabled
      - id: disabled
        end: {userId: "{{ client.userId }}", status: disabled}
      - id: keep
        end: {userId: "{{ client.userId }}", status: enabled}

An action step goes on to the step after it unless it says `next`; conditions
name every way out; `end` outputs are `key: value` (the type inferred from the
value, text for templates) or `key: {type, value}`. The full reference is
docs/flow-format.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from idflow.flows.model import ELSE, END_ACTION, ERROR_EDGE, START_TASK_ID, SUCCESS
from idflow.flows.problems import Problem, raise_problems

_STEP_KEYS = {
    "id",
    "name",
    "action",
    "with",
    "next",
    "on-error",
    "context-key",
    "if",
    "else",
    "end",
    "view",
}
_TOP_KEYS = {"id", "name", "description", "steps", "trigger", "disabled"}
_ATOMIC_TEXT = re.compile(r"^\s*(\S+)\s+([a-z-]+)(?:\s+(.*))?$", re.DOTALL)


def is_authoring_form(data: Any) -> bool:
    """True when a decoded file is in the authoring form (it lists `steps`)."""
    return isinstance(data, Mapping) and isinstance(data.get("steps"), list)


def compile_authoring(
    data: Mapping[str, Any], source: str | None = None
) -> dict[str, Any]:
    """Compile the authoring form into a Descope v2 document.

    Args:
        data: the decoded YAML or JSON mapping.
        source: the file it came from, for messages.

    Returns:
        A v2 document with `metadata.management` set, ready to parse.

    Raises:
        FlowDefinitionError: listing every problem with the authoring form.
    """
    compiler = _Compiler(source)
    document = compiler.compile(data)
    raise_problems(compiler.problems, repr(data.get("id") or source or "document"))

    return document


class _Compiler:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(
        self, message: str, task_id: str | None = None, field: str | None = None
    ) -> None:
        self.problems.append(Problem(message, self.source, task_id, field))

    def compile(self, data: Mapping[str, Any]) -> dict[str, Any]:
        for key in data:
            if key not in _TOP_KEYS:
                self.problem(
                    f"Unknown key {key!r}: expected {', '.join(sorted(_TOP_KEYS))}.",
                    field=str(key),
                )
        flow_id = data.get("id")
        if not isinstance(flow_id, str) or not flow_id:
            self.problem(
                "The flow needs an id: expected a non-empty string.", field="id"
            )

        steps = [step for step in data["steps"] if self.check_step_shape(step)]
        ids = [str(step["id"]) for step in steps]
        tasks: dict[str, Any] = {}
        if steps:
            tasks[START_TASK_ID] = {
                "id": START_TASK_ID,
                "name": "Start",
                "next": {"rules": [{"interactionId": "", "taskId": ids[0]}]},
            }
        for index, step in enumerate(steps):
            following = ids[index + 1] if index + 1 < len(ids) else None
            if ids[index] in tasks:
                # Ids key the tasks, so a repeat would silently replace the
                # earlier step and the flow could still validate.
                self.problem(
                    f"Step id {ids[index]!r} is used twice: expected every step to have its own id.",
                    ids[index],
                    "id",
                )
                continue
            tasks[ids[index]] = self.compile_step(step, following)

        metadata: dict[str, Any] = {
            "name": data.get("name") or flow_id,
            "description": data.get("description") or "",
            "disabled": bool(data.get("disabled", False)),
            "management": True,
        }
        triggers = self.compile_trigger(data.get("trigger"))
        if triggers is not None:
            metadata["managementConfig"] = {"triggers": triggers}

        return {
            "flowId": flow_id,
            "metadata": metadata,
            "contents": {"startTask": ids[0] if ids else "", "tasks": tasks},
            "screens": [],
        }

    def check_step_shape(self, step: Any) -> bool:
        if not isinstance(step, Mapping):
            self.problem(f"Expected a step mapping, got {step!r}.", field="steps")
            return False
        step_id = step.get("id")
        if (
            not isinstance(step_id, (str, int))
            or step_id == ""
            or str(step_id) == START_TASK_ID
        ):
            self.problem(
                "Every step needs an id (a string other than 'start').", field="steps"
            )
            return False
        for key in step:
            if key not in _STEP_KEYS:
                self.problem(
                    f"Unknown step key {key!r}: expected {', '.join(sorted(_STEP_KEYS))}.",
                    str(step_id),
                    str(key),
                )
        kinds = [key for key in ("action", "if", "end") if key in step]
        if len(kinds) != 1:
            self.problem(
                "A step is exactly one of: an action ('action'), a condition ('if') or an end ('end').",
                str(step_id),
            )
            return False
        return True

    def compile_step(
        self, step: Mapping[str, Any], following: str | None
    ) -> dict[str, Any]:
        task_id = str(step["id"])
        task: dict[str, Any] = {"id": task_id, "name": str(step.get("name") or task_id)}
        if "view" in step:
            task["view"] = step["view"]
        if "if" in step:
            task.update(self.compile_condition(task_id, step))
        elif "end" in step:
            task.update(type="automated", action=END_ACTION, next={})
            task["arguments"] = {
                "outputs": {
                    "type": "inline",
                    "value": self.compile_outputs(task_id, step["end"]),
                }
            }
        else:
            task.update(self.compile_action(task_id, step, following))
        return task

    def compile_action(
        self, task_id: str, step: Mapping[str, Any], following: str | None
    ) -> dict[str, Any]:
        arguments = step.get("with") or {}
        if not isinstance(arguments, Mapping):
            self.problem(
                f"Expected 'with' to map argument names to values, got {arguments!r}.",
                task_id,
                "with",
            )
            arguments = {}
        task: dict[str, Any] = {
            "type": "automated",
            "action": step["action"],
            "arguments": {
                str(name): {"type": "inline", "value": value}
                for name, value in arguments.items()
            },
        }
        if "context-key" in step:
            task["contextKey"] = step["context-key"]

        rules = []
        next_id = step.get("next", following)
        if next_id is not None:
            rules.append({"interactionId": SUCCESS, "taskId": str(next_id)})
        else:
            self.problem(
                "The last step is an action with no 'next': the flow would never reach an End.",
                task_id,
                "next",
            )

        on_error = step.get("on-error", "automatic")
        if on_error in ("automatic", "ignore"):
            policy = on_error
        else:
            policy = "custom"
            rules.append({"interactionId": ERROR_EDGE, "taskId": str(on_error)})
        task["errorHandlingV2"] = {"default": {"errorHandlingType": policy}}
        task["next"] = {"rules": rules}
        return task

    def compile_condition(
        self, task_id: str, step: Mapping[str, Any]
    ) -> dict[str, Any]:
        raw_branches = step["if"]
        if isinstance(raw_branches, Mapping):
            raw_branches = [raw_branches]
        if not isinstance(raw_branches, list):
            self.problem("Expected 'if' to be a list of branches.", task_id, "if")
            raw_branches = []

        conditions = []
        rules = []
        for index, branch in enumerate(raw_branches):
            field = f"if.{index}"
            if not isinstance(branch, Mapping) or "goto" not in branch:
                self.problem(
                    "Expected a branch with 'when' (or 'any') and 'goto'.",
                    task_id,
                    field,
                )
                continue
            branch_id = str(branch.get("id") or f"{task_id}-{index + 1}")
            logical_or = "any" in branch
            atomics = [
                self.compile_atomic(
                    task_id, f"{field}.{'any' if logical_or else 'when'}", raw
                )
                for raw in _as_list(branch.get("any" if logical_or else "when"))
            ]
            condition: dict[str, Any] = {
                "interactionId": branch_id,
                "name": str(branch.get("name") or branch_id),
                "atomicConditions": [a for a in atomics if a],
            }
            if logical_or:
                condition["logicalOr"] = True
            conditions.append(condition)
            rules.append({"interactionId": branch_id, "taskId": str(branch["goto"])})

        conditions.append({"interactionId": ELSE, "name": "Else"})
        if step.get("else") is None:
            self.problem(
                "A condition needs 'else': the step to go to when no branch matches.",
                task_id,
                "else",
            )
        else:
            rules.append({"interactionId": ELSE, "taskId": str(step["else"])})
        return {"type": "condition", "conditions": conditions, "next": {"rules": rules}}

    def compile_atomic(
        self, task_id: str, field: str, raw: Any
    ) -> dict[str, Any] | None:
        if isinstance(raw, str):
            match = _ATOMIC_TEXT.match(raw)
            if match is None:
                self.problem(
                    f"Cannot read condition {raw!r}: expected '<context key> <operator> [value]'.",
                    task_id,
                    field,
                )
                return None
            target, operator, predicate_text = match.groups()
            predicate: Any = (
                _scalar(predicate_text) if predicate_text is not None else ""
            )
        elif isinstance(raw, Mapping) and "key" in raw and "op" in raw:
            target, operator, predicate = raw["key"], raw["op"], raw.get("value", "")
        else:
            self.problem(
                f"Expected a condition as text or {{key, op, value}}, got {raw!r}.",
                task_id,
                field,
            )
            return None
        return {
            "target": {"value": str(target)},
            "operator": str(operator),
            "predicate": {"value": predicate},
        }

    def compile_outputs(self, task_id: str, raw: Any) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, Mapping):
            self.problem("Expected 'end' to map output keys to values.", task_id, "end")
            return []

        outputs = []
        for key, value in raw.items():
            if (
                isinstance(value, Mapping)
                and "value" in value
                and set(value) <= {"type", "value"}
            ):
                outputs.append(
                    {
                        "key": str(key),
                        "type": value.get("type") or _infer_type(value["value"]),
                        "value": value["value"],
                    }
                )
            else:
                outputs.append(
                    {"key": str(key), "type": _infer_type(value), "value": value}
                )
        return outputs

    def compile_trigger(self, raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.problem(
                "Expected 'trigger' to be a mapping with 'events' and/or 'api'.",
                field="trigger",
            )
            return None
        events = [str(event) for event in _as_list(raw.get("events"))]
        return {
            "enabled": bool(raw.get("enabled", True)),
            "triggerType": "event" if events else "api",
            "eventTriggers": {"triggeringEventTypes": events},
        }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


class _CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema booleans and numbers.

    PyYAML follows YAML 1.1, where `NO`, `on` and `yes` are booleans, `010` is
    octal and `1:30` is 90; in a condition such as `client.country equal NO`
    they are text, so only `true`/`false` and plain decimal numbers convert.
    """


_YAML_BOOL, _YAML_INT, _YAML_FLOAT = (
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float")
)
_CoreSchemaLoader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in (_YAML_BOOL, _YAML_INT, _YAML_FLOAT)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CoreSchemaLoader.add_implicit_resolver(
    _YAML_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreSchemaLoader.add_implicit_resolver(
    _YAML_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_CoreSchemaLoader.add_implicit_resolver(
    _YAML_FLOAT,
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def _core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node))


def _core_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    return float(loader.construct_scalar(node))


# SafeLoader's constructors read `010` as octal; the core schema reads decimal.
_CoreSchemaLoader.add_constructor(_YAML_INT, _core_int)
_CoreSchemaLoader.add_constructor(_YAML_FLOAT, _core_float)


def _scalar(text: str) -> Any:
    """Read the value part of a text condition as YAML 1.2 reads a plain scalar."""
    stripped = text.strip()
    try:
        value = yaml.load(stripped, Loader=_CoreSchemaLoader)
    except yaml.YAMLError:
        return stripped
    return value if isinstance(value, (str, int, float, bool, list)) else stripped
