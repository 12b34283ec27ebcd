"""The trigger index: which flows each event type starts, rewritten with every flow change.

A flow is in the index for an event type when its head is enabled, its current
version's `managementConfig.triggers` is enabled and lists the type. The flow
services call `index_flow` in the transaction of each save, switch and delete,
so the outbox, which reads the index in every event's transaction, can never
see a flow as it no longer is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idflow.flows.descope import parse_triggers
from idflow.flows.model import Triggers
from idflow.store import flows as flow_store
from idflow.store import triggers as trigger_store


def index_flow(conn: Any, project_id: str, flow_id: str) -> tuple[str, ...]:
    """Rewrite the flow's rows of the trigger index from the flow as stored now.

    Args:
        conn: the connection, inside the transaction of the flow change.
        project_id: the project.
        flow_id: the flow; a deleted flow leaves the index.

    Returns:
        The event types that start the flow from now on.
    """
    record = flow_store.get_flow(conn, project_id, flow_id)
    types: tuple[str, ...] = ()
    if record is not None and not record.disabled:
        version = flow_store.get_flow_version(conn, project_id, flow_id)
        if version is not None:
            types = event_types(version.document)
    trigger_store.replace_flow_triggers(conn, project_id, flow_id, types)

    return types


def event_types(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The event types a v2 document's enabled triggers list; empty for API flows."""
    metadata = document.get("metadata")
    config = metadata.get("managementConfig") if isinstance(metadata, Mapping) else None
    triggers: Triggers = parse_triggers(config)

    return triggers.event_types if triggers.enabled else ()
