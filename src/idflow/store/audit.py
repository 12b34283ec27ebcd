"""Audit trail queries: record an event, read one back, search a project's trail.

`record_event` is the only way an audit event enters the database; its one
caller, `services.audit`, writes the event's deliveries right after it, in the
transaction of the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Row,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
)

from idflow.store.driver import DriverStatement
from idflow.store.records import AuditEvent, AuditType
from idflow.store.tables import audit_events

# Runs write events on their hot path: straight to the driver (see store/driver.py).
_INSERT_EVENT = DriverStatement(insert(audit_events))
# Workers read the event of every delivery they claim: straight to the driver too.
_GET_EVENT = DriverStatement(
    select(audit_events).where(
        audit_events.c.project_id == bindparam("project_id"),
        audit_events.c.event_id == bindparam("event_id"),
    )
)


def record_event(conn: Connection, event: AuditEvent) -> None:
    """Write an audit event in the caller's transaction.

    Args:
        conn: the connection, inside the transaction of the change audited.
        event: the event; its id must be new.
    """
    _INSERT_EVENT.execute(conn, _event_values(event))


def get_event(conn: Connection, project_id: str, event_id: str) -> AuditEvent | None:
    """Return the event with this id, or None when the project has none."""
    row = _GET_EVENT.first(conn, {"project_id": project_id, "event_id": event_id})
    return None if row is None else _event_from_row(row)


def search_events(
    conn: Connection,
    project_id: str,
    *,
    user_ids: Sequence[str] = (),
    actions: Sequence[str] = (),
    excluded_actions: Sequence[str] = (),
    tenant_ids: Sequence[str] = (),
    from_ms: int | None = None,
    to_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEvent], int]:
    """Return one page of a project's audit events, newest first, and the total.

    Every filter given must hold; an empty sequence or None leaves it out.

    Args:
        conn: the connection.
        project_id: the project.
        user_ids: events about one of these users.
        actions: events with one of these actions.
        excluded_actions: events with none of these actions.
        tenant_ids: events whose tenant, or one of whose tenants, is listed.
        from_ms: events that occurred at or after this time.
        to_ms: events that occurred at or before this time.
        limit: the most events to return.
        offset: how many matching events to skip first.

    Returns:
        The page of events and how many events match in all.
    """
    filters = [audit_events.c.project_id == project_id]
    if user_ids:
        filters.append(audit_events.c.user_id.in_(user_ids))
    if actions:
        filters.append(audit_events.c.action.in_(actions))
    if excluded_actions:
        filters.append(audit_events.c.action.not_in(excluded_actions))
    if tenant_ids:
        filters.append(_in_tenants(conn.dialect.name, tenant_ids))
    if from_ms is not None:
        filters.append(audit_events.c.occurred_ms >= from_ms)
    if to_ms is not None:
        filters.append(audit_events.c.occurred_ms <= to_ms)
    where = and_(*filters)

    page = (
        select(audit_events)
        .where(where)
        .order_by(audit_events.c.occurred_ms.desc(), audit_events.c.event_id.desc())
        .limit(limit)
        .offset(offset)
    )
    events = [_event_from_row(row) for row in conn.execute(page)]
    total = conn.execute(select(func.count()).select_from(audit_events).where(where))

    return events, int(total.scalar_one())


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """An audit trail search: every filter given must hold; empty ones are left out.

    Attributes:
        external_ids: events naming one of these login ids.
        tenant_ids: events of one of these tenants.
        include_untenanted: with `tenant_ids`, also events of no tenant.
        text: a case-insensitive substring of the action, actor, user, login
            ids or data.
        oldest_first: order by time ascending instead of newest first.
    """

    user_ids: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    excluded_actions: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    geos: tuple[str, ...] = ()
    remote_addresses: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()
    include_untenanted: bool = False
    text: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    oldest_first: bool = False
    limit: int = 100
    offset: int = 0


def search_audit(
    conn: Connection, project_id: str, query: AuditQuery
) -> tuple[list[AuditEvent], int]:
    """Return one page of the project's events matching a query, and the total.

    Args:
        conn: the connection.
        project_id: the project.
        query: the filters, order and page.

    Returns:
        The page of events, newest first unless asked otherwise, and how many
        events match in all.
    """
    where = and_(
        audit_events.c.project_id == project_id,
        *_audit_filters(conn.dialect.name, query),
    )
    occurred, event_id = audit_events.c.occurred_ms, audit_events.c.event_id
    order = (
        (occurred.asc(), event_id.asc())
        if query.oldest_first
        else (occurred.desc(), event_id.desc())
    )
    page = (
        select(audit_events)
        .where(where)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )
    events = [_event_from_row(row) for row in conn.execute(page)]
    total = conn.execute(select(func.count()).select_from(audit_events).where(where))

    return events, int(total.scalar_one())


def _audit_filters(dialect_name: str, query: AuditQuery) -> list[ColumnElement[bool]]:
    columns: list[tuple[Column[Any], tuple[str, ...]]] = [
        (audit_events.c.user_id, query.user_ids),
        (audit_events.c.action, query.actions),
        (audit_events.c.device, query.devices),
        (audit_events.c.method, query.methods),
        (audit_events.c.geo, query.geos),
        (audit_events.c.remote_address, query.remote_addresses),
    ]
    filters: list[ColumnElement[bool]] = [
        column.in_(values) for column, values in columns if values
    ]
    if query.excluded_actions:
        filters.append(audit_events.c.action.not_in(query.excluded_actions))
    if query.external_ids:
        filters.append(
            _json_list_holds(
                dialect_name, audit_events.c.external_ids, query.external_ids
            )
        )
    if query.tenant_ids:
        tenanted = _in_tenants(dialect_name, query.tenant_ids)
        if query.include_untenanted:
            tenanted = or_(tenanted, _untenanted())
        filters.append(tenanted)
    if query.text:
        filters.append(_text_matches(query.text.lower()))
    if query.from_ms is not None:
        filters.append(audit_events.c.occurred_ms >= query.from_ms)
    if query.to_ms is not None:
        filters.append(audit_events.c.occurred_ms <= query.to_ms)
    return filters


def _json_list_holds(
    dialect_name: str, column: Column[Any], values: Sequence[str]
) -> ColumnElement[bool]:
    if dialect_name == "postgresql":
        elements = (
            func.json_array_elements_text(column).table_valued("value").render_derived()
        )
    else:
        elements = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value.in_(values)))


def _untenanted() -> ColumnElement[bool]:
    no_list = func.coalesce(func.json_array_length(audit_events.c.tenants), 0) == 0
    return and_(audit_events.c.tenant_id.is_(None), no_list)


def _text_matches(text: str) -> ColumnElement[bool]:
    columns = (
        audit_events.c.action,
        audit_events.c.actor_id,
        audit_events.c.user_id,
        cast(audit_events.c.external_ids, String),
        cast(audit_events.c.data, String),
    )
    return or_(
        *(func.lower(column).contains(text, autoescape=True) for column in columns)
    )


def _in_tenants(dialect_name: str, tenant_ids: Sequence[str]) -> ColumnElement[bool]:
    # The tenants list is JSON; each dialect has its own way to unnest it.
    if dialect_name == "postgresql":
        elements = (
            func.json_array_elements_text(audit_events.c.tenants)
            .table_valued("value")
            .render_derived()
        )
    else:
        elements = func.json_each(audit_events.c.tenants).table_valued("value")
    listed = exists(
        select(1).select_from(elements).where(elements.c.value.in_(tenant_ids))
    )

    return or_(audit_events.c.tenant_id.in_(tenant_ids), listed)


def _event_values(event: AuditEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "project_id": event.project_id,
        "occurred_ms": event.occurred_ms,
        "action": event.action,
        "type": event.type.value,
        "actor_id": event.actor_id,
        "custom": event.custom,
        "user_id": event.user_id,
        "tenant_id": event.tenant_id,
        "external_ids": list(event.external_ids),
        "tenants": list(event.tenants),
        "data": dict(event.data),
        "device": event.device,
        "method": event.method,
        "geo": event.geo,
        "remote_address": event.remote_address,
        "origin_event_id": event.origin_event_id,
        "depth": event.depth,
        "run_id": event.run_id,
    }


def _event_from_row(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        project_id=row.project_id,
        event_id=row.event_id,
        occurred_ms=row.occurred_ms,
        action=row.action,
        type=AuditType(row.type),
        actor_id=row.actor_id,
        custom=row.custom,
        user_id=row.user_id,
        tenant_id=row.tenant_id,
        external_ids=tuple(row.external_ids),
        tenants=tuple(row.tenants),
        data=row.data,
        device=row.device,
        method=row.method,
        geo=row.geo,
        remote_address=row.remote_address,
        origin_event_id=row.origin_event_id,
        depth=row.depth,
        run_id=row.run_id,
    )
