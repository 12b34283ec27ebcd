"""Flow queries: save immutable versions, read heads and versions, switch, delete.

A flow is a head row in `flows` naming its current version, plus one row per
saved version in `flow_versions`. Saving never rewrites a version: it adds the
next one and moves the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from idflow.store.driver import DriverStatement
from idflow.store.records import FlowRecord, FlowVersion
from idflow.store.tables import flow_versions, flows

_KEY = and_(
    flows.c.project_id == bindparam("project_id"),
    flows.c.flow_id == bindparam("flow_id"),
)
# UPDATE reserves bind names equal to column names for its SET clause.
_UPDATE_KEY = and_(
    flows.c.project_id == bindparam("match_project_id"),
    flows.c.flow_id == bindparam("match_flow_id"),
)
_VERSION_KEY = and_(
    flow_versions.c.project_id == bindparam("project_id"),
    flow_versions.c.flow_id == bindparam("flow_id"),
)

_INSERT_FLOW = insert(flows)
_BUMP_FLOW = (
    update(flows)
    .where(_UPDATE_KEY)
    .values(
        current_version=flows.c.current_version + 1,
        name=bindparam("name"),
        description=bindparam("description"),
        modified_ms=bindparam("modified_ms"),
    )
    .returning(flows.c.current_version)
)
_SET_DISABLED = (
    update(flows)
    .where(_UPDATE_KEY)
    .values(disabled=bindparam("disabled"), modified_ms=bindparam("modified_ms"))
)
_DELETE_FLOW = delete(flows).where(_KEY)
_GET_FLOW = DriverStatement(select(flows).where(_KEY))
# Every run reads its flow's head: only what it needs, straight to the driver
# (see store/driver.py).
_GET_FLOW_HEAD = DriverStatement(
    select(flows.c.current_version, flows.c.disabled).where(_KEY)
)
_LIST_FLOWS = (
    select(flows)
    .where(flows.c.project_id == bindparam("project_id"))
    .order_by(flows.c.flow_id)
)

_INSERT_VERSION = insert(flow_versions)
_GET_VERSION = select(flow_versions).where(
    _VERSION_KEY, flow_versions.c.version == bindparam("version")
)
_GET_CURRENT_VERSION = (
    select(flow_versions)
    .join(
        flows,
        and_(
            flows.c.project_id == flow_versions.c.project_id,
            flows.c.flow_id == flow_versions.c.flow_id,
            flows.c.current_version == flow_versions.c.version,
        ),
    )
    .where(_VERSION_KEY)
)
_LIST_VERSIONS = (
    select(flow_versions).where(_VERSION_KEY).order_by(flow_versions.c.version)
)


def save_flow_version(
    conn: Connection,
    project_id: str,
    flow_id: str,
    *,
    document: Mapping[str, Any],
    name: str,
    description: str,
    note: str | None,
    now_ms: int,
) -> FlowVersion:
    """Save a document as the flow's next version and make it current.

    The first save creates the flow, enabled, at version 1. Later saves add
    version n+1 and update the head's name and description; the switch that
    disables a flow is left as it was.

    Args:
        conn: the connection, inside the caller's transaction.
        project_id: the project.
        flow_id: the flow.
        document: the flow document as saved.
        name: the flow's display name from now on.
        description: the flow's description from now on.
        note: why this version was saved, if the author said.
        now_ms: the time of the save.

    Returns:
        The version just saved.
    """
    bump = {
        "match_project_id": project_id,
        "match_flow_id": flow_id,
        "name": name,
        "description": description,
        "modified_ms": now_ms,
    }
    version = conn.execute(_BUMP_FLOW, bump).scalar_one_or_none()
    if version is None and _create_flow(conn, bump):
        version = 1
    elif version is None:
        version = conn.execute(_BUMP_FLOW, bump).scalar_one()

    conn.execute(
        _INSERT_VERSION,
        {
            "project_id": project_id,
            "flow_id": flow_id,
            "version": version,
            "document": dict(document),
            "note": note,
            "created_ms": now_ms,
        },
    )

    return FlowVersion(
        project_id=project_id,
        flow_id=flow_id,
        version=version,
        document=document,
        created_ms=now_ms,
        note=note,
    )


def get_flow(conn: Connection, project_id: str, flow_id: str) -> FlowRecord | None:
    """Return the flow's head, or None when the project has no such flow."""
    row = _GET_FLOW.first(conn, {"project_id": project_id, "flow_id": flow_id})
    return None if row is None else _flow_from_row(row)


def get_flow_head(
    conn: Connection, project_id: str, flow_id: str
) -> tuple[int, bool] | None:
    """Return what a run needs of the flow's head, without its name and dates.

    Returns:
        The current version and whether the flow is switched off; None when
        the project has no such flow.
    """
    row = _GET_FLOW_HEAD.first(conn, {"project_id": project_id, "flow_id": flow_id})
    return None if row is None else (row.current_version, bool(row.disabled))


def get_flow_version(
    conn: Connection, project_id: str, flow_id: str, version: int | None = None
) -> FlowVersion | None:
    """Return one saved version of a flow.

    Args:
        conn: the connection.
        project_id: the project.
        flow_id: the flow.
        version: the version number, or None for the current version.

    Returns:
        The version, or None when the flow or that version does not exist.
    """
    key = {"project_id": project_id, "flow_id": flow_id}
    if version is None:
        row = conn.execute(_GET_CURRENT_VERSION, key).first()
    else:
        row = conn.execute(_GET_VERSION, {**key, "version": version}).first()

    return None if row is None else _version_from_row(row)


def list_flows(conn: Connection, project_id: str) -> list[FlowRecord]:
    """Return the heads of every flow in the project, by flow id."""
    result = conn.execute(_LIST_FLOWS, {"project_id": project_id})
    return [_flow_from_row(row) for row in result]


def list_flow_versions(
    conn: Connection, project_id: str, flow_id: str
) -> list[FlowVersion]:
    """Return every saved version of a flow, oldest first; empty when none."""
    result = conn.execute(
        _LIST_VERSIONS, {"project_id": project_id, "flow_id": flow_id}
    )
    return [_version_from_row(row) for row in result]


def set_flow_disabled(
    conn: Connection, project_id: str, flow_id: str, disabled: bool, now_ms: int
) -> bool:
    """Switch a flow off or back on.

    Args:
        conn: the connection, inside the caller's transaction.
        project_id: the project.
        flow_id: the flow.
        disabled: True to stop the flow from running, False to allow it again.
        now_ms: the time of the change.

    Returns:
        True when the flow exists and was updated.
    """
    result = conn.execute(
        _SET_DISABLED,
        {
            "match_project_id": project_id,
            "match_flow_id": flow_id,
            "disabled": disabled,
            "modified_ms": now_ms,
        },
    )
    return result.rowcount > 0


def delete_flow(conn: Connection, project_id: str, flow_id: str) -> bool:
    """Delete a flow and all its versions; its runs stay.

    Returns:
        True when a flow was deleted, False when there was none.
    """
    result = conn.execute(_DELETE_FLOW, {"project_id": project_id, "flow_id": flow_id})
    return result.rowcount > 0


def _create_flow(conn: Connection, bump: Mapping[str, Any]) -> bool:
    # A concurrent first save may create the head between our UPDATE and this
    # INSERT; the savepoint lets the caller bump that head instead of failing.
    try:
        with conn.begin_nested():
            conn.execute(
                _INSERT_FLOW,
                {
                    "project_id": bump["match_project_id"],
                    "flow_id": bump["match_flow_id"],
                    "name": bump["name"],
                    "description": bump["description"],
                    "current_version": 1,
                    "disabled": False,
                    "created_ms": bump["modified_ms"],
                    "modified_ms": bump["modified_ms"],
                },
            )
    except IntegrityError:
        return False

    return True


def _flow_from_row(row: Row[Any]) -> FlowRecord:
    return FlowRecord(
        project_id=row.project_id,
        flow_id=row.flow_id,
        name=row.name,
        description=row.description,
        current_version=row.current_version,
        disabled=row.disabled,
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
    )


def _version_from_row(row: Row[Any]) -> FlowVersion:
    return FlowVersion(
        project_id=row.project_id,
        flow_id=row.flow_id,
        version=row.version,
        document=row.document,
        created_ms=row.created_ms,
        note=row.note,
    )
