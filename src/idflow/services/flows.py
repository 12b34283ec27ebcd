"""Flow operations: validate, save a version, list, export, and plans per version.

Saving validates first (structure, then the engine's own checks on operators and
templates), so nothing invalid is ever stored. Plans are compiled once per
(project, flow, version) and kept in a bounded cache; versions are immutable, so
a cached plan never goes stale. The cache also remembers, per flow, whether the
plan it last handed out calls connectors, for callers that choose a thread for a
run before its plan is loaded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from idflow.actions.registry import ACTION_IMPLEMENTATIONS, CONNECTOR_ACTIONS
from idflow.clock import now_ms
from idflow.engine.plan import Plan, compile_plan
from idflow.errors import FlowDisabled, FlowNotFound
from idflow.flows.descope import parse_document, v2_to_v1
from idflow.flows.model import Flow
from idflow.services.audit import Actor, AuditAction, emit
from idflow.services.triggers import index_flow
from idflow.store import flows as flow_store
from idflow.store.records import FlowRecord, FlowVersion

PLAN_CACHE_SIZE = 256
# Flows whose connector use is remembered; an entry is two ids and a flag, and
# a forgotten flow's next run merely starts on the safe side.
CONNECTOR_HINTS_SIZE = 4096


@dataclass(frozen=True, slots=True)
class SavedFlow:
    """The outcome of saving a flow document.

    Attributes:
        changed: False when the document equals the current version, in which
            case no version was added.
    """

    version: FlowVersion
    changed: bool


def check_document(document: Mapping[str, Any], source: str | None = None) -> Flow:
    """Parse and fully validate a v2 document without storing anything.

    Raises:
        FlowDefinitionError: listing every problem found.
    """
    flow = parse_document(document, source)
    compile_plan(flow, 0, ACTION_IMPLEMENTATIONS, source)

    return flow


def save_flow(
    conn: Any,
    actor: Actor,
    project_id: str,
    document: Mapping[str, Any],
    *,
    note: str | None = None,
    source: str | None = None,
) -> SavedFlow:
    """Validate a document and save it as the flow's next version.

    Saving the same content as the current version adds no version, so applying
    a folder of flow files twice is harmless.

    Raises:
        FlowDefinitionError: when the document does not validate.
    """
    flow = check_document(document, source)
    current = flow_store.get_flow_version(conn, project_id, flow.flow_id)
    if current is not None and dict(current.document) == dict(document):
        return SavedFlow(current, changed=False)

    version = flow_store.save_flow_version(
        conn,
        project_id,
        flow.flow_id,
        document=document,
        name=flow.name,
        description=flow.description,
        note=note,
        now_ms=now_ms(),
    )
    index_flow(conn, project_id, flow.flow_id)
    emit(
        conn,
        actor,
        project_id,
        AuditAction.FLOW_SAVED,
        data={"flowId": flow.flow_id, "version": version.version},
    )

    return SavedFlow(version, changed=True)


def require_flow(conn: Any, project_id: str, flow_id: str) -> FlowRecord:
    """Return the flow's head, or raise FlowNotFound."""
    record = flow_store.get_flow(conn, project_id, flow_id)
    if record is None:
        raise _no_such_flow(flow_id)
    return record


def _no_such_flow(flow_id: str) -> FlowNotFound:
    return FlowNotFound(f"No flow has the id {flow_id!r} in this project.")


def delete_flow(conn: Any, actor: Actor, project_id: str, flow_id: str) -> None:
    """Delete a flow and its versions (runs stay); write `FlowDeleted`."""
    require_flow(conn, project_id, flow_id)
    flow_store.delete_flow(conn, project_id, flow_id)
    index_flow(conn, project_id, flow_id)
    emit(conn, actor, project_id, AuditAction.FLOW_DELETED, data={"flowId": flow_id})


def export_v1(conn: Any, project_id: str, flow_id: str) -> dict[str, Any]:
    """Return the v1 export answer `{"flow", "screens"}` of the current version."""
    record = require_flow(conn, project_id, flow_id)
    version = flow_store.get_flow_version(conn, project_id, flow_id)
    assert version is not None, "a flow head always has its current version"
    answer = v2_to_v1(
        version.document, version=record.current_version, modified_ms=record.modified_ms
    )
    answer["flow"]["disabled"] = record.disabled

    return answer


def export_v2(conn: Any, project_id: str, flow_id: str) -> dict[str, Any]:
    """Return the current version's v2 document, with the head's disabled switch."""
    record = require_flow(conn, project_id, flow_id)
    version = flow_store.get_flow_version(conn, project_id, flow_id)
    assert version is not None, "a flow head always has its current version"
    document = dict(version.document)
    document["metadata"] = {
        **(document.get("metadata") or {}),
        "disabled": record.disabled,
    }

    return document


def list_flows(conn: Any, project_id: str) -> list[FlowRecord]:
    """Return the heads of every flow in the project, by flow id."""
    return flow_store.list_flows(conn, project_id)


def import_flow(
    conn: Any,
    actor: Actor,
    project_id: str,
    document: Mapping[str, Any],
    *,
    note: str | None = None,
    source: str | None = None,
) -> SavedFlow:
    """Save an imported document and take its `metadata.disabled` switch.

    A Descope export carries the flow's switch inside its metadata, while idflow
    keeps it on the flow's head; taking it on import makes a disabled flow stay
    disabled and export back as it came.

    Raises:
        FlowDefinitionError: when the document does not validate.
    """
    saved = save_flow(conn, actor, project_id, document, note=note, source=source)
    disabled = (document.get("metadata") or {}).get("disabled") is True
    set_flow_disabled(conn, actor, project_id, saved.version.flow_id, disabled)

    return saved


def set_flow_disabled(
    conn: Any, actor: Actor, project_id: str, flow_id: str, disabled: bool
) -> bool:
    """Switch a flow off or back on without a new version; write `FlowModified`.

    Returns:
        False when the flow was already in that state, and nothing was written.

    Raises:
        FlowNotFound: when the project has no such flow.
    """
    record = require_flow(conn, project_id, flow_id)
    if record.disabled == disabled:
        return False
    flow_store.set_flow_disabled(conn, project_id, flow_id, disabled, now_ms())
    index_flow(conn, project_id, flow_id)
    emit(
        conn,
        actor,
        project_id,
        AuditAction.FLOW_MODIFIED,
        data={"flowId": flow_id, "disabled": disabled},
    )

    return True


def delete_flows(
    conn: Any, actor: Actor, project_id: str, flow_ids: Iterable[str]
) -> None:
    """Delete several flows, all or none.

    Raises:
        FlowNotFound: naming the first id with no flow; nothing is deleted.
    """
    distinct = list(dict.fromkeys(flow_ids))
    for flow_id in distinct:
        require_flow(conn, project_id, flow_id)
    for flow_id in distinct:
        delete_flow(conn, actor, project_id, flow_id)


def calls_connectors(plan: Plan) -> bool:
    """Whether any step of the plan calls a connector, and so waits on the network."""
    return any(step.task.action in CONNECTOR_ACTIONS for step in plan.steps.values())


class PlanCache:
    """Compiled plans by (project, flow, version), least recently used evicted.

    Beside each plan it keeps whether the plan has connector steps, and per
    (project, flow) the answer for the plan it handed out last.
    """

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str, int], tuple[Plan, bool]] = (
            OrderedDict()
        )
        self._connector_hints: OrderedDict[tuple[str, str], bool] = OrderedDict()
        # Per (project, flow): the current version's plan handed out last,
        # when it is context-only (see `context_only_plan`).
        self._context_only: OrderedDict[tuple[str, str], Plan] = OrderedDict()
        self._lock = threading.Lock()

    def uses_connectors(self, project_id: str, flow_id: str) -> bool | None:
        """Whether the flow's plan handed out last has connector steps.

        A hint, not a promise: the flow may have a new version since.

        Returns:
            None when no plan of the flow was handed out yet, or so long ago
            that it was forgotten.
        """
        with self._lock:
            return self._connector_hints.get((project_id, flow_id))

    def forget_connector_hint(self, project_id: str, flow_id: str) -> None:
        """Forget whether the flow calls connectors: its next run finds out afresh."""
        with self._lock:
            self._connector_hints.pop((project_id, flow_id), None)

    def context_only_plan(self, project_id: str, flow_id: str) -> Plan | None:
        """The flow's current plan as last handed out, when it is context-only.

        A run of such a plan needs no store until it is recorded, so the API
        makes it without a turn on the store thread. The flow may have
        changed since: whoever records the run checks the version is still
        current and switched on, in the transaction that records it, and
        calls `forget_context_only` when it is not.

        Returns:
            None when the last plan handed out was not context-only, or was
            for a flow switched off or gone, or none was handed out yet.
        """
        with self._lock:
            return self._context_only.get((project_id, flow_id))

    def forget_context_only(self, project_id: str, flow_id: str) -> None:
        """Drop the flow's context-only plan: the flow changed under it."""
        with self._lock:
            self._context_only.pop((project_id, flow_id), None)

    def plan_for_run(
        self, conn: Any, project_id: str, flow_id: str, version: int | None = None
    ) -> Plan:
        """Return the plan of the flow's current version, ready to run.

        Args:
            conn: the store connection.
            project_id: the project.
            flow_id: the flow.
            version: a version to run instead of the current one, as for a run
                accepted earlier and pinned to the version current then.

        Raises:
            FlowNotFound: when the project has no such flow or version.
            FlowDisabled: when the flow is switched off.
        """
        head = flow_store.get_flow_head(conn, project_id, flow_id)
        if head is None:
            self.forget_context_only(project_id, flow_id)
            raise _no_such_flow(flow_id)
        current_version, disabled = head
        if disabled:
            self.forget_context_only(project_id, flow_id)
            raise FlowDisabled(
                f"Flow {flow_id!r} is disabled: enable it before running it."
            )

        current = version is None or version == current_version
        key = (project_id, flow_id, version or current_version)
        with self._lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
                self._note_connectors(project_id, flow_id, cached[1])
                if current:
                    self._note_current(project_id, flow_id, cached[0])
                return cached[0]

        found = flow_store.get_flow_version(conn, project_id, flow_id, key[2])
        if found is None:
            raise FlowNotFound(f"Flow {flow_id!r} has no version {key[2]}.")
        plan = compile_plan(
            parse_document(found.document), found.version, ACTION_IMPLEMENTATIONS
        )
        connectors = calls_connectors(plan)
        with self._lock:
            self._plans[key] = (plan, connectors)
            if len(self._plans) > self._size:
                self._plans.popitem(last=False)
            self._note_connectors(project_id, flow_id, connectors)
            if current:
                self._note_current(project_id, flow_id, plan)
        return plan

    def _note_current(self, project_id: str, flow_id: str, plan: Plan) -> None:
        # Called with the lock held, for each plan of a current version.
        key = (project_id, flow_id)
        if not plan.context_only:
            self._context_only.pop(key, None)
        elif self._context_only.get(key) is not plan:
            self._context_only[key] = plan
            # These hold whole plans, so they are bounded as the plans are.
            if len(self._context_only) > self._size:
                self._context_only.popitem(last=False)

    def _note_connectors(self, project_id: str, flow_id: str, uses: bool) -> None:
        # Called with the lock held, on every plan handed out.
        hints = self._connector_hints
        if hints.get((project_id, flow_id)) is not uses:
            hints[(project_id, flow_id)] = uses
            if len(hints) > CONNECTOR_HINTS_SIZE:
                hints.popitem(last=False)
