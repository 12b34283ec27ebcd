"""Descope flow documents: the v1 and v2 envelopes, and parsing into `Flow`.

idflow stores every flow as a v2 document (`flowId`, `metadata`, `contents`,
`screens`, `references`). Imports in the v1 shape (`flow.dsl`) are converted on the
way in and exports are converted back on the way out; keys idflow does not know
are carried along untouched so a Descope export survives the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idflow.flows.model import (
    START_TASK_ID,
    AtomicCondition,
    Branch,
    ErrorPolicy,
    Flow,
    Rule,
    Task,
    TaskKind,
    Triggers,
)
from idflow.flows.problems import Problem, raise_problems

# v1 flow keys that the server owns; they are recomputed on export, never stored.
_V1_SERVER_KEYS = frozenset({"id", "dsl", "version", "modifiedTime", "etag"})
_V1_TRANSLATION_KEYS = {
    "translate": "enabled",
    "translateConnectorId": "connectorId",
    "translateSourceLanguage": "sourceLanguage",
    "translateTargetLanguages": "targetLanguages",
}


def normalize_document(data: Any, source: str | None = None) -> dict[str, Any]:
    """Return the v2 document held in any accepted import shape.

    Accepted: a v2 document, `{"flow": <v2 document>}` (the v2 export answer), a
    v1 flow object with `dsl`, and `{"flow": <v1 flow>, "screens": [...]}` (the v1
    export answer).

    Args:
        data: the decoded JSON or YAML value.
        source: the file or request the value came from, for messages.

    Raises:
        FlowDefinitionError: when the value is none of those shapes.
    """
    if isinstance(data, Mapping) and isinstance(data.get("flow"), Mapping):
        inner = data["flow"]
        if "dsl" in inner:
            return v1_to_v2(inner, data.get("screens"))
        if "contents" in inner:
            return dict(inner)
    if isinstance(data, Mapping) and "dsl" in data:
        return v1_to_v2(data, None)
    if isinstance(data, Mapping) and "contents" in data:
        return dict(data)

    raise_problems(
        [
            Problem(
                "Not a flow document: expected a Descope export (with 'flow', 'dsl' "
                "or 'contents') or an idflow YAML flow (with 'steps').",
                source=source,
            )
        ],
        repr(source or "document"),
    )
    raise AssertionError("unreachable")  # pragma: no cover


def v1_to_v2(flow: Mapping[str, Any], screens: Any) -> dict[str, Any]:
    """Convert a v1 flow object (with `dsl`) into a v2 document."""
    metadata: dict[str, Any] = {}
    translation: dict[str, Any] = {}
    for key, value in flow.items():
        if key in _V1_SERVER_KEYS:
            continue
        if key in _V1_TRANSLATION_KEYS:
            translation[_V1_TRANSLATION_KEYS[key]] = value
        else:
            metadata[key] = value
    if translation:
        metadata["translation"] = translation

    return {
        "flowId": flow.get("id"),
        "metadata": metadata,
        "contents": flow.get("dsl") or {},
        "screens": [_screen_v1_to_v2(screen) for screen in screens or []],
    }


def v2_to_v1(
    document: Mapping[str, Any], *, version: int, modified_ms: int
) -> dict[str, Any]:
    """Render a stored v2 document as the v1 export answer `{"flow", "screens"}`."""
    metadata = dict(document.get("metadata") or {})
    translation = metadata.pop("translation", None) or {}
    flow: dict[str, Any] = {
        "id": document.get("flowId"),
        "version": version,
        "name": metadata.pop("name", ""),
        "description": metadata.pop("description", ""),
        "dsl": document.get("contents") or {},
        # Descope sends modifiedTime as a string of epoch seconds.
        "modifiedTime": str(modified_ms // 1000),
        "etag": f"{document.get('flowId')}-{version}",
        "disabled": metadata.pop("disabled", False),
    }
    for v1_key, v2_key in _V1_TRANSLATION_KEYS.items():
        if v2_key in translation:
            flow[v1_key] = translation[v2_key]
    flow.update(metadata)

    screens = [_screen_v2_to_v1(screen) for screen in document.get("screens") or []]
    return {"flow": flow, "screens": screens}


def _screen_v1_to_v2(screen: Any) -> Any:
    if not isinstance(screen, Mapping):
        return screen
    converted = {k: v for k, v in screen.items() if k not in ("id", "htmlTemplate")}
    converted["screenId"] = screen.get("id")
    converted["contents"] = screen.get("htmlTemplate")
    return converted


def _screen_v2_to_v1(screen: Any) -> Any:
    if not isinstance(screen, Mapping):
        return screen
    converted = {k: v for k, v in screen.items() if k not in ("screenId", "contents")}
    converted["id"] = screen.get("screenId")
    converted["htmlTemplate"] = screen.get("contents")
    return converted


def parse_document(document: Mapping[str, Any], source: str | None = None) -> Flow:
    """Read a v2 document into a `Flow`, checking the shape of every part.

    Args:
        document: a v2 document, as `normalize_document` returns.
        source: the file or request it came from, for messages.

    Returns:
        The parsed flow; its meaning is not yet validated.

    Raises:
        FlowDefinitionError: listing every shape problem found.
    """
    reader = _Reader(source)
    flow_id = document.get("flowId")
    if not isinstance(flow_id, str) or not flow_id.strip():
        reader.problem(
            "The flow has no id: expected a non-empty string.", field="flowId"
        )
        flow_id = ""
    metadata = reader.mapping(document.get("metadata") or {}, None, "metadata")
    contents = reader.mapping(document.get("contents"), None, "contents")
    raw_tasks = reader.mapping(contents.get("tasks"), None, "contents.tasks")

    tasks: dict[str, Task] = {}
    for task_id, raw_task in raw_tasks.items():
        task = reader.task(str(task_id), raw_task)
        if task is not None:
            tasks[str(task_id)] = task

    start_task = contents.get("startTask")
    if start_task is None and START_TASK_ID in tasks:
        start_task = (
            tasks[START_TASK_ID].rules[0].task_id if tasks[START_TASK_ID].rules else ""
        )
    raise_problems(reader.problems, repr(flow_id or source or "document"))

    return Flow(
        flow_id=flow_id,
        name=str(metadata.get("name") or flow_id),
        description=str(metadata.get("description") or ""),
        management=metadata.get("management") is True,
        start_task=str(start_task or ""),
        tasks=tasks,
        triggers=parse_triggers(metadata.get("managementConfig")),
        document=document,
    )


def parse_triggers(management_config: Any) -> Triggers:
    """Read `managementConfig.triggers`; no triggers means an API-started flow.

    Event types without a `triggerType` mean an event trigger, as Descope's
    console saves them.
    """
    if not isinstance(management_config, Mapping):
        return Triggers()
    triggers = management_config.get("triggers")
    if not isinstance(triggers, Mapping):
        return Triggers()

    event_triggers = triggers.get("eventTriggers") or {}
    types = (
        event_triggers.get("triggeringEventTypes") or []
        if isinstance(event_triggers, Mapping)
        else []
    )
    trigger_type = triggers.get("triggerType")
    if trigger_type is None:
        trigger_type = "event" if types else "api"
    return Triggers(
        api=trigger_type == "api",
        event_types=tuple(str(t) for t in types) if trigger_type == "event" else (),
        enabled=triggers.get("enabled", True) is not False,
    )


class _Reader:
    """Collects shape problems while reading one document."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(
        self, message: str, task_id: str | None = None, field: str | None = None
    ) -> None:
        self.problems.append(Problem(message, self.source, task_id, field))

    def mapping(self, value: Any, task_id: str | None, field: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.problem(f"Expected an object, got {_kind(value)}.", task_id, field)
        return {}

    def task(self, task_id: str, raw: Any) -> Task | None:
        if not isinstance(raw, Mapping):
            self.problem(f"Expected a task object, got {_kind(raw)}.", task_id)
            return None

        kind = self._kind(task_id, raw)
        rules = self._rules(task_id, raw.get("next"))
        if kind is None:
            return None
        return Task(
            id=task_id,
            name=str(raw.get("name") or task_id),
            kind=kind,
            action=raw.get("action") if isinstance(raw.get("action"), str) else None,
            arguments=self._arguments(task_id, raw.get("arguments")),
            branches=self._branches(task_id, raw.get("conditions"))
            if kind is TaskKind.CONDITION
            else (),
            rules=rules,
            error_policy=self._error_policy(task_id, raw.get("errorHandlingV2")),
            context_key=raw.get("contextKey")
            if isinstance(raw.get("contextKey"), str)
            else None,
        )

    def _kind(self, task_id: str, raw: Mapping[str, Any]) -> TaskKind | None:
        task_type = raw.get("type")
        if task_id == START_TASK_ID and task_type in (None, "", "start"):
            return TaskKind.START
        if task_type == "automated":
            if not isinstance(raw.get("action"), str) or not raw["action"]:
                self.problem(
                    "An automated task needs an action id: expected a string such as 'user-disable'.",
                    task_id,
                    "action",
                )
                return None
            return TaskKind.ACTION
        if task_type == "condition":
            return TaskKind.CONDITION
        if task_type == "screen":
            self.problem(
                "Screens cannot appear in a management flow: it runs with no user in front of it.",
                task_id,
                "type",
            )
        else:
            self.problem(
                f"Unknown task type {task_type!r}: expected 'automated' or 'condition'.",
                task_id,
                "type",
            )
        return None

    def _rules(self, task_id: str, raw_next: Any) -> tuple[Rule, ...]:
        if raw_next is None:
            return ()
        raw_rules = self.mapping(raw_next, task_id, "next").get("rules") or []
        if not isinstance(raw_rules, list):
            self.problem(
                f"Expected a list of rules, got {_kind(raw_rules)}.",
                task_id,
                "next.rules",
            )
            return ()

        rules = []
        for index, raw_rule in enumerate(raw_rules):
            field = f"next.rules.{index}"
            if not isinstance(raw_rule, Mapping) or not isinstance(
                raw_rule.get("taskId"), str
            ):
                self.problem(
                    "Expected {'interactionId': ..., 'taskId': <task id>}.",
                    task_id,
                    field,
                )
                continue
            interaction = raw_rule.get("interactionId")
            rules.append(
                Rule(
                    "" if interaction is None else str(interaction), raw_rule["taskId"]
                )
            )
        return tuple(rules)

    def _arguments(self, task_id: str, raw_arguments: Any) -> dict[str, Any]:
        if raw_arguments is None:
            return {}
        arguments = {}
        for name, raw in self.mapping(raw_arguments, task_id, "arguments").items():
            field = f"arguments.{name}"
            if not isinstance(raw, Mapping) or "value" not in raw:
                self.problem(
                    "Expected an argument of the form {'type': 'inline', 'value': ...}.",
                    task_id,
                    field,
                )
                continue
            if raw.get("type", "inline") != "inline":
                self.problem(
                    f"Argument type {raw.get('type')!r} is not supported: expected 'inline'.",
                    task_id,
                    field,
                )
                continue
            arguments[str(name)] = raw["value"]
        return arguments

    def _branches(self, task_id: str, raw_conditions: Any) -> tuple[Branch, ...]:
        if not isinstance(raw_conditions, list):
            self.problem(
                f"A condition needs a list of branches, got {_kind(raw_conditions)}.",
                task_id,
                "conditions",
            )
            return ()

        branches = []
        for index, raw in enumerate(raw_conditions):
            field = f"conditions.{index}"
            if not isinstance(raw, Mapping) or not isinstance(
                raw.get("interactionId"), str
            ):
                self.problem(
                    "Expected a branch with a string 'interactionId'.", task_id, field
                )
                continue
            atomics = []
            for a_index, atomic in enumerate(raw.get("atomicConditions") or []):
                parsed = self._atomic(
                    task_id, f"{field}.atomicConditions.{a_index}", atomic
                )
                if parsed is not None:
                    atomics.append(parsed)
            branches.append(
                Branch(
                    interaction_id=raw["interactionId"],
                    name=str(raw.get("name") or raw["interactionId"]),
                    atomics=tuple(atomics),
                    logical_or=raw.get("logicalOr") is True,
                )
            )
        return tuple(branches)

    def _atomic(self, task_id: str, field: str, raw: Any) -> AtomicCondition | None:
        target = raw.get("target") if isinstance(raw, Mapping) else None
        target_value = target.get("value") if isinstance(target, Mapping) else None
        if (
            not isinstance(raw, Mapping)
            or not isinstance(target_value, str)
            or not isinstance(raw.get("operator"), str)
        ):
            self.problem(
                "Expected {'target': {'value': <context key>}, 'operator': ..., 'predicate': {'value': ...}}.",
                task_id,
                field,
            )
            return None
        predicate = raw.get("predicate")
        return AtomicCondition(
            target=target_value,
            operator=raw["operator"],
            predicate=predicate.get("value")
            if isinstance(predicate, Mapping)
            else predicate,
        )

    def _error_policy(self, task_id: str, raw: Any) -> ErrorPolicy:
        if not raw:
            return ErrorPolicy.AUTOMATIC
        policies = set()
        for name, handling in self.mapping(raw, task_id, "errorHandlingV2").items():
            value = (
                handling.get("errorHandlingType")
                if isinstance(handling, Mapping)
                else None
            )
            try:
                policies.add(ErrorPolicy(str(value)))
            except ValueError:
                self.problem(
                    f"Unknown error handling {value!r}: expected 'automatic', 'ignore' or 'custom'.",
                    task_id,
                    f"errorHandlingV2.{name}",
                )
        if len(policies) > 1:
            self.problem(
                "idflow applies one error policy per task: give every error the same handling.",
                task_id,
                "errorHandlingV2",
            )
        return policies.pop() if len(policies) == 1 else ErrorPolicy.AUTOMATIC


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
