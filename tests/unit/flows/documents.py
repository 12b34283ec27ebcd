"""Descope v2 flow documents for flow tests, built one task at a time.

`lockout_document` is the graph of descope-compat.md §11.2 with idflow's action
ids filled in: it parses and validates, so a test changes one part of it and
checks the one problem that change causes.
"""

from __future__ import annotations

from typing import Any


def start_task(first: str) -> dict[str, Any]:
    return {
        "id": "start",
        "name": "start",
        "next": {"rules": [{"interactionId": "", "taskId": first}]},
    }


def action_task(
    task_id: str,
    action: str,
    *,
    arguments: dict[str, Any] | None = None,
    success: str | None = "0",
    error: str | None = None,
    policy: str | None = None,
) -> dict[str, Any]:
    rules = []
    if success is not None:
        rules.append({"interactionId": "success", "taskId": success})
    if error is not None:
        rules.append({"interactionId": "error", "taskId": error})
    task: dict[str, Any] = {
        "id": task_id,
        "name": task_id,
        "type": "automated",
        "action": action,
        "arguments": {
            name: {"type": "inline", "value": value}
            for name, value in (arguments or {}).items()
        },
        "next": {"rules": rules},
    }
    if policy is not None:
        task["errorHandlingV2"] = {"default": {"errorHandlingType": policy}}
    return task


def atomic(target: str, operator: str, predicate: Any = "") -> dict[str, Any]:
    return {
        "target": {"value": target},
        "operator": operator,
        "predicate": {"value": predicate},
    }


def condition_task(
    task_id: str, branches: dict[str, tuple[list[dict[str, Any]], str]], otherwise: str
) -> dict[str, Any]:
    """A condition whose branches map an interaction id to (atomics, target)."""
    conditions: list[dict[str, Any]] = [
        {"interactionId": branch_id, "name": branch_id, "atomicConditions": atomics}
        for branch_id, (atomics, _) in branches.items()
    ]
    conditions.append({"interactionId": "ELSE", "name": "Else"})
    rules = [
        {"interactionId": branch_id, "taskId": target}
        for branch_id, (_, target) in branches.items()
    ]
    rules.append({"interactionId": "ELSE", "taskId": otherwise})
    return {
        "id": task_id,
        "name": task_id,
        "type": "condition",
        "conditions": conditions,
        "next": {"rules": rules},
    }


def end_task(task_id: str = "0", outputs: list[Any] | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": task_id,
        "name": "End",
        "type": "automated",
        "action": "end",
        "next": {},
    }
    if outputs is not None:
        task["arguments"] = {"outputs": {"type": "inline", "value": outputs}}
    return task


def document(
    *tasks: dict[str, Any], flow_id: str = "lockout", **metadata: Any
) -> dict[str, Any]:
    """A v2 document holding the tasks; the first one given is the start's target."""
    first = tasks[0]["id"]
    return {
        "flowId": flow_id,
        "metadata": {"name": flow_id, "management": True, **metadata},
        "contents": {
            "startTask": first,
            "tasks": {"start": start_task(first), **{t["id"]: t for t in tasks}},
        },
        "screens": [],
    }


def lockout_document() -> dict[str, Any]:
    """Disable the user of a LoginExceedMaxAttempts event, else just end."""
    return document(
        condition_task(
            "1",
            {
                "c1": (
                    [
                        atomic(
                            "triggeringEvent.action", "equal", "LoginExceedMaxAttempts"
                        )
                    ],
                    "2",
                )
            },
            otherwise="0",
        ),
        action_task("2", "user-disable", policy="automatic"),
        end_task("0", [{"key": "status", "type": "string", "value": "done"}]),
    )
