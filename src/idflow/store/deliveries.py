"""Delivery queries: the outbox rows, their claims under a lease, and their outcomes.

A delivery is written pending in its event's transaction. A worker claims it
(running, with a lease that expires), and every later change a worker makes is
fenced by that lease: it applies only while the row is still running under the
same owner, so a worker whose lease lapsed and was taken over changes nothing.
`LeaseLost` says so. Operators list, count and redrive what is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)

from idflow.errors import LeaseLost
from idflow.store.claims import claim_dialect
from idflow.store.driver import DriverStatement
from idflow.store.records import Delivery, DeliveryStatus, SkipReason
from idflow.store.tables import deliveries

_PENDING, _RUNNING = DeliveryStatus.PENDING.value, DeliveryStatus.RUNNING.value
_c = deliveries.c

# UPDATE reserves bind names equal to column names for its SET clause, so the
# fence binds under other names.
_FENCE = and_(
    _c.delivery_id == bindparam("match_delivery_id"),
    _c.lease_owner == bindparam("match_owner"),
    _c.status == _RUNNING,
)

# Every event with a matching flow adds rows, and every run ends one: both go
# straight to the driver (see store/driver.py).
_INSERT = DriverStatement(insert(deliveries))
_COMPLETE = DriverStatement(
    update(deliveries)
    .where(_FENCE)
    .values(
        status=DeliveryStatus.DONE.value,
        run_id=bindparam("run_id"),
        finished_ms=bindparam("finished_ms"),
        lease_expires_ms=None,
    )
)
# Every checkpoint of a run with connector steps ties the delivery to its run.
_HOLD_RUN = DriverStatement(
    update(deliveries).where(_FENCE).values(run_id=bindparam("run_id"))
)
_FAIL = update(deliveries).where(_FENCE)
_GET = select(deliveries).where(
    _c.project_id == bindparam("project_id"),
    _c.delivery_id == bindparam("delivery_id"),
)
_FOR_EVENT = (
    select(deliveries)
    .where(_c.project_id == bindparam("project_id"))
    .where(_c.event_id == bindparam("event_id"))
    .order_by(_c.flow_id)
)


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """A filter on a project's deliveries; every filter given must hold.

    Attributes:
        statuses: deliveries in one of these states; all states when empty.
        flow_ids: deliveries to one of these flows; all flows when empty.
        since_ms: deliveries created (with their event) at or after this time.
        until_ms: deliveries created before this time.
        delivery_ids: only these deliveries.
    """

    statuses: tuple[DeliveryStatus, ...] = ()
    flow_ids: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    delivery_ids: tuple[str, ...] = ()
    limit: int = 100
    offset: int = 0


def insert_deliveries(conn: Connection, rows: Iterable[Delivery]) -> None:
    """Write new deliveries in the caller's transaction, usually the event's.

    Raises:
        IntegrityError: a delivery for the same (event, flow) exists already.
    """
    for delivery in rows:
        _INSERT.execute(conn, _values(delivery))


def claim_deliveries(
    conn: Connection, owner: str, limit: int, lease_ms: int, now_ms: int
) -> list[Delivery]:
    """Claim up to `limit` deliveries that are due, under a lease for `owner`.

    Due means pending and available, or running under a lease that expired (its
    worker died or stalled). Each claimed row becomes running, owned by `owner`
    until `now_ms + lease_ms`, and counts one more attempt. Expired leases are
    taken first, the longest expired first, then pending rows, the oldest first;
    rows another claim holds are skipped where the dialect allows.

    Args:
        conn: the connection, inside a transaction of its own.
        owner: the claiming worker's id.
        limit: the most deliveries to claim.
        lease_ms: how long the claim holds without renewal.
        now_ms: the current time.

    Returns:
        The claimed deliveries, as they now stand.
    """
    statements = _CLAIMS.get(conn.dialect.name)
    if statements is None:
        statements = _CLAIMS.setdefault(conn.dialect.name, _claim_statements(conn))
    values = {"now": now_ms, "owner": owner, "expires": now_ms + lease_ms}
    claimed: list[Delivery] = []
    # Taken over first: a lease that expired is work a dead worker left behind.
    for statement in statements:
        if len(claimed) >= limit:
            break
        result = conn.execute(statement, {**values, "limit": limit - len(claimed)})
        claimed.extend(_from_row(row) for row in result)

    return sorted(claimed, key=lambda d: (d.available_ms, d.delivery_id))


# Built once per dialect: constructing the statements costs more than running them.
_CLAIMS: dict[str, tuple[Any, Any]] = {}


def any_due(conn: Connection, now_ms: int) -> bool:
    """Whether a claim at `now_ms` would find a delivery: a read, which takes no lock.

    On SQLite a claim is a write transaction, and so takes the file's one
    write lock even when nothing is due; an idle worker polling five times a
    second would take it from the writers that have work (decision 0016).
    """
    expired, pending = _DUE
    values = {"now": now_ms}
    return (
        conn.execute(expired, values).first() is not None
        or conn.execute(pending, values).first() is not None
    )


def _claim_statements(conn: Connection) -> tuple[Any, Any]:
    # Two statements, not one with `pending OR expired`: with the OR, SQLite
    # gathered every due row from both sides and sorted them all for the
    # LIMIT, so each claim cost as much as the backlog was long, and a worker
    # that fell behind fell further behind. Alone, each side reads its index
    # in order and stops at the limit.
    expired = (
        select(_c.delivery_id)
        .where(_c.status == _RUNNING, _c.lease_expires_ms < bindparam("now"))
        .order_by(_c.lease_expires_ms)
        .limit(bindparam("limit"))
    )
    pending = (
        select(_c.delivery_id)
        .where(_c.status == _PENDING, _c.available_ms <= bindparam("now"))
        .order_by(_c.available_ms)
        .limit(bindparam("limit"))
    )
    dialect = claim_dialect(conn.dialect.name)

    def claim(candidates: Select[Any]) -> Any:
        return (
            update(deliveries)
            .where(_c.delivery_id.in_(dialect.lock_candidates(candidates)))
            .values(
                status=_RUNNING,
                lease_owner=bindparam("owner"),
                lease_expires_ms=bindparam("expires"),
                attempts=_c.attempts + 1,
            )
            .returning(*deliveries.c)
        )

    return claim(expired), claim(pending)


def _due_statements() -> tuple[Any, Any]:
    # The claim's two sides, each stopped at its first row by the same index.
    expired = (
        select(literal(1))
        .where(_c.status == _RUNNING, _c.lease_expires_ms < bindparam("now"))
        .limit(1)
    )
    pending = (
        select(literal(1))
        .where(_c.status == _PENDING, _c.available_ms <= bindparam("now"))
        .limit(1)
    )
    return expired, pending


_DUE = _due_statements()


def renew_leases(
    conn: Connection, owner: str, delivery_ids: Sequence[str], expires_ms: int
) -> set[str]:
    """Extend the leases `owner` still holds on these deliveries.

    Returns:
        The ids renewed; the others were lost to another worker or have ended.
    """
    if not delivery_ids:
        return set()
    renew = (
        update(deliveries)
        .where(
            _c.delivery_id.in_(sorted(delivery_ids)),
            _c.lease_owner == owner,
            _c.status == _RUNNING,
        )
        .values(lease_expires_ms=expires_ms)
        .returning(_c.delivery_id)
    )

    return {row[0] for row in conn.execute(renew)}


def complete_delivery(
    conn: Connection, delivery_id: str, owner: str, run_id: str, now_ms: int
) -> None:
    """Mark a delivery done by the run that completed it, if `owner` holds it.

    Call it in the run's final transaction, so the delivery ends with the run's
    effects or not at all.

    Raises:
        LeaseLost: the delivery is no longer running under `owner`.
    """
    changed = _COMPLETE.execute(
        conn,
        {
            "match_delivery_id": delivery_id,
            "match_owner": owner,
            "run_id": run_id,
            "finished_ms": now_ms,
        },
    )
    if changed == 0:
        raise _lost(delivery_id, owner)


def hold_run(conn: Connection, delivery_id: str, owner: str, run_id: str) -> None:
    """Tie a claimed delivery to the run `owner` is making for it, fenced by the lease.

    Called at each of the run's checkpoints, in the checkpoint's commit: a later
    attempt finds the run there and resumes it, and a worker that lost its
    lease commits nothing.

    Raises:
        LeaseLost: the delivery is no longer running under `owner`.
    """
    changed = _HOLD_RUN.execute(
        conn,
        {"match_delivery_id": delivery_id, "match_owner": owner, "run_id": run_id},
    )
    if changed == 0:
        raise _lost(delivery_id, owner)


def fail_delivery(
    conn: Connection,
    delivery_id: str,
    owner: str,
    *,
    error: Mapping[str, Any],
    run_id: str | None,
    retry_at_ms: int | None,
    now_ms: int,
) -> None:
    """Record a failed attempt: pending again from `retry_at_ms`, or dead when None.

    Raises:
        LeaseLost: the delivery is no longer running under `owner`.
    """
    values: dict[str, Any] = {
        "last_error": dict(error),
        "lease_expires_ms": None,
    }
    if run_id is not None:
        values["run_id"] = run_id
    if retry_at_ms is None:
        values |= {"status": DeliveryStatus.DEAD.value, "finished_ms": now_ms}
    else:
        values |= {"status": _PENDING, "available_ms": retry_at_ms}
    _fenced(conn, delivery_id, owner, values)


def skip_delivery(
    conn: Connection, delivery_id: str, owner: str, reason: SkipReason, now_ms: int
) -> None:
    """End a claimed delivery without a run, for the reason given.

    Raises:
        LeaseLost: the delivery is no longer running under `owner`.
    """
    values = {
        "status": DeliveryStatus.SKIPPED.value,
        "skip_reason": reason.value,
        "finished_ms": now_ms,
        "lease_expires_ms": None,
    }
    _fenced(conn, delivery_id, owner, values)


def release_deliveries(
    conn: Connection,
    owner: str,
    delivery_ids: Sequence[str],
    now_ms: int,
    *,
    uncount: bool,
) -> int:
    """Hand claimed deliveries back to the queue, available at once.

    Args:
        conn: the connection, inside a transaction of its own.
        owner: the worker releasing them; rows it no longer holds are left.
        delivery_ids: the deliveries.
        now_ms: the current time.
        uncount: take back the attempt the claim counted, for deliveries
            that never started.

    Returns:
        How many were released.
    """
    if not delivery_ids:
        return 0
    attempts = _c.attempts - 1 if uncount else _c.attempts
    release = (
        update(deliveries)
        .where(
            _c.delivery_id.in_(sorted(delivery_ids)),
            _c.lease_owner == owner,
            _c.status == _RUNNING,
        )
        .values(
            status=_PENDING,
            available_ms=now_ms,
            lease_owner=None,
            lease_expires_ms=None,
            attempts=attempts,
        )
    )

    return int(conn.execute(release).rowcount)


def get_delivery(
    conn: Connection, project_id: str, delivery_id: str
) -> Delivery | None:
    """Return the delivery with this id, or None when the project has none."""
    row = conn.execute(
        _GET, {"project_id": project_id, "delivery_id": delivery_id}
    ).first()
    return None if row is None else _from_row(row)


def deliveries_for_event(
    conn: Connection, project_id: str, event_id: str
) -> list[Delivery]:
    """Return the deliveries of one event, by flow id."""
    result = conn.execute(_FOR_EVENT, {"project_id": project_id, "event_id": event_id})
    return [_from_row(row) for row in result]


def list_deliveries(
    conn: Connection, project_id: str, query: DeliveryQuery
) -> list[Delivery]:
    """Return one page of a project's deliveries matching a query, newest first."""
    page = (
        select(deliveries)
        .where(*_filters(project_id, query))
        .order_by(_c.created_ms.desc(), _c.delivery_id.desc())
        .limit(query.limit)
        .offset(query.offset)
    )
    return [_from_row(row) for row in conn.execute(page)]


def count_deliveries(conn: Connection, project_id: str, query: DeliveryQuery) -> int:
    """Return how many of a project's deliveries match a query, ignoring its page."""
    total = select(func.count()).select_from(deliveries)
    return int(conn.execute(total.where(*_filters(project_id, query))).scalar_one())


def redrive_deliveries(
    conn: Connection, project_id: str, query: DeliveryQuery, now_ms: int
) -> int:
    """Put the dead deliveries matching a query back in the queue, attempts reset.

    The query's statuses are ignored: only dead deliveries are redriven. Their
    last error stays until a new attempt replaces it.

    Returns:
        How many deliveries were redriven.
    """
    dead = DeliveryQuery(
        statuses=(DeliveryStatus.DEAD,),
        flow_ids=query.flow_ids,
        since_ms=query.since_ms,
        until_ms=query.until_ms,
        delivery_ids=query.delivery_ids,
    )
    redrive = (
        update(deliveries)
        .where(*_filters(project_id, dead))
        .values(
            status=_PENDING,
            attempts=0,
            available_ms=now_ms,
            lease_owner=None,
            lease_expires_ms=None,
            finished_ms=None,
        )
    )

    return int(conn.execute(redrive).rowcount)


def _fenced(
    conn: Connection, delivery_id: str, owner: str, values: dict[str, Any]
) -> None:
    result = conn.execute(
        _FAIL.values(**values),
        {"match_delivery_id": delivery_id, "match_owner": owner},
    )
    if result.rowcount == 0:
        raise _lost(delivery_id, owner)


def _lost(delivery_id: str, owner: str) -> LeaseLost:
    return LeaseLost(
        f"Delivery {delivery_id!r} is no longer held by worker {owner!r}: another worker took it over or it ended."
    )


def _filters(project_id: str, query: DeliveryQuery) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [_c.project_id == project_id]
    if query.statuses:
        filters.append(_c.status.in_([s.value for s in query.statuses]))
    if query.flow_ids:
        filters.append(_c.flow_id.in_(query.flow_ids))
    if query.delivery_ids:
        filters.append(_c.delivery_id.in_(query.delivery_ids))
    if query.since_ms is not None:
        filters.append(_c.created_ms >= query.since_ms)
    if query.until_ms is not None:
        filters.append(_c.created_ms < query.until_ms)
    return filters


def _values(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "project_id": delivery.project_id,
        "event_id": delivery.event_id,
        "flow_id": delivery.flow_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "available_ms": delivery.available_ms,
        "lease_owner": delivery.lease_owner,
        "lease_expires_ms": delivery.lease_expires_ms,
        "last_error": None
        if delivery.last_error is None
        else dict(delivery.last_error),
        "run_id": delivery.run_id,
        "skip_reason": None
        if delivery.skip_reason is None
        else delivery.skip_reason.value,
        "created_ms": delivery.created_ms,
        "finished_ms": delivery.finished_ms,
    }


def _from_row(row: Row[Any]) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        project_id=row.project_id,
        event_id=row.event_id,
        flow_id=row.flow_id,
        status=DeliveryStatus(row.status),
        created_ms=row.created_ms,
        available_ms=row.available_ms,
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        lease_expires_ms=row.lease_expires_ms,
        last_error=row.last_error,
        run_id=row.run_id,
        skip_reason=None if row.skip_reason is None else SkipReason(row.skip_reason),
        finished_ms=row.finished_ms,
    )
