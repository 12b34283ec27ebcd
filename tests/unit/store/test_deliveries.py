from __future__ import annotations

from collections.abc import Callable

import pytest

from idflow.errors import LeaseLost
from idflow.store import deliveries
from idflow.store.database import Store
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import Delivery, DeliveryStatus, SkipReason

T0 = 1_800_000_000_000
LEASE_MS = 30_000

AddDelivery = Callable[..., Delivery]


@pytest.fixture
def add(store: Store) -> AddDelivery:
    counter = iter(range(1_000_000))

    def make(**fields: object) -> Delivery:
        number = next(counter)
        values: dict[str, object] = {
            "delivery_id": f"D{number:04d}",
            "project_id": "P1",
            "event_id": f"A{number:04d}",
            "flow_id": "flow-a",
            "status": DeliveryStatus.PENDING,
            "created_ms": T0 + number,
            "available_ms": T0 + number,
        }
        delivery = Delivery(**(values | fields))  # type: ignore[arg-type]
        with store.begin() as conn:
            deliveries.insert_deliveries(conn, [delivery])
        return delivery

    return make


def _claim(store: Store, owner: str, limit: int, now: int) -> list[Delivery]:
    with store.begin() as conn:
        return deliveries.claim_deliveries(conn, owner, limit, LEASE_MS, now)


def _get(store: Store, delivery_id: str) -> Delivery:
    with store.connect() as conn:
        found = deliveries.get_delivery(conn, "P1", delivery_id)
    assert found is not None
    return found


def test_claim_takes_the_oldest_due_deliveries_under_a_lease(
    store: Store, add: AddDelivery
) -> None:
    first, second, _later = add(), add(), add(available_ms=T0 + 60_000)

    claimed = _claim(store, "w1", 5, T0 + 10)

    assert [d.delivery_id for d in claimed] == [first.delivery_id, second.delivery_id]
    assert all(d.status is DeliveryStatus.RUNNING for d in claimed)
    assert all(d.lease_owner == "w1" for d in claimed)
    assert all(d.lease_expires_ms == T0 + 10 + LEASE_MS for d in claimed)
    assert all(d.attempts == 1 for d in claimed)


def test_claim_respects_the_limit_and_never_hands_out_a_held_delivery(
    store: Store, add: AddDelivery
) -> None:
    for _ in range(3):
        add()

    mine = _claim(store, "w1", 2, T0 + 10)
    theirs = _claim(store, "w2", 5, T0 + 10)

    assert len(mine) == 2
    assert len(theirs) == 1
    assert {d.delivery_id for d in mine}.isdisjoint(d.delivery_id for d in theirs)


def test_an_expired_lease_is_claimed_again_as_a_new_attempt(
    store: Store, add: AddDelivery
) -> None:
    delivery = add()
    _claim(store, "w1", 1, T0)

    assert _claim(store, "w2", 1, T0 + LEASE_MS - 1) == []
    [taken] = _claim(store, "w2", 1, T0 + LEASE_MS + 1)

    assert taken.delivery_id == delivery.delivery_id
    assert taken.lease_owner == "w2"
    assert taken.attempts == 2


def test_expired_leases_are_taken_over_before_pending_deliveries(
    store: Store, add: AddDelivery
) -> None:
    orphan = add()
    _claim(store, "dead", 1, T0)
    for _ in range(3):
        add(available_ms=T0 + 1)

    [first] = _claim(store, "w2", 1, T0 + LEASE_MS + 1)
    rest = _claim(store, "w2", 5, T0 + LEASE_MS + 1)

    assert first.delivery_id == orphan.delivery_id
    assert len(rest) == 3
    assert orphan.delivery_id not in {d.delivery_id for d in rest}


def test_any_due_says_whether_a_claim_would_find_a_delivery(
    store: Store, add: AddDelivery
) -> None:
    def due(now: int) -> bool:
        with store.connect() as conn:
            return deliveries.any_due(conn, now)

    assert due(T0) is False  # nothing at all
    later = add(available_ms=T0 + 60_000)
    assert due(T0) is False  # not yet available
    assert due(T0 + 60_000) is True
    [claimed] = _claim(store, "w1", 5, T0 + 60_000)
    assert claimed.delivery_id == later.delivery_id
    assert due(T0 + 60_000) is False  # held under a live lease
    assert due(T0 + 60_000 + LEASE_MS + 1) is True  # the lease ran out


def test_a_claim_reads_pending_deliveries_in_index_order_whatever_the_backlog(
    sqlite_file_store: Store,
) -> None:
    # Under an OR of pending and expired, SQLite sorted the whole backlog for
    # every claim; the pending claim must read its index in order instead.
    with sqlite_file_store.connect() as conn:
        _expired, pending = deliveries._claim_statements(conn)
        sql = str(pending.compile(dialect=conn.dialect))
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, tuple([0] * sql.count("?"))
        ).all()
    steps = [row[-1] for row in plan]

    assert not [step for step in steps if "TEMP B-TREE" in step], steps
    assert any("ix_deliveries_status_available_ms" in step for step in steps), steps


def test_completion_is_fenced_by_the_lease(store: Store, add: AddDelivery) -> None:
    delivery = add()
    _claim(store, "w1", 1, T0)
    _claim(store, "w2", 1, T0 + LEASE_MS + 1)

    with pytest.raises(LeaseLost), store.begin() as conn:
        deliveries.complete_delivery(conn, delivery.delivery_id, "w1", "R1", T0)
    with store.begin() as conn:
        deliveries.complete_delivery(conn, delivery.delivery_id, "w2", "R2", T0 + 1)

    done = _get(store, delivery.delivery_id)
    assert (done.status, done.run_id, done.lease_owner) == (
        DeliveryStatus.DONE,
        "R2",
        "w2",
    )


def test_a_failed_attempt_waits_for_its_retry_time_and_a_final_one_is_dead(
    store: Store, add: AddDelivery
) -> None:
    delivery = add()
    _claim(store, "w1", 1, T0)
    with store.begin() as conn:
        deliveries.fail_delivery(
            conn,
            delivery.delivery_id,
            "w1",
            error={"code": "E1", "message": "boom"},
            run_id="R1",
            retry_at_ms=T0 + 5_000,
            now_ms=T0,
        )

    assert _claim(store, "w1", 1, T0 + 4_999) == []
    [again] = _claim(store, "w1", 1, T0 + 5_000)
    with store.begin() as conn:
        deliveries.fail_delivery(
            conn,
            delivery.delivery_id,
            "w1",
            error={"code": "E2", "message": "again"},
            run_id="R2",
            retry_at_ms=None,
            now_ms=T0 + 5_001,
        )

    dead = _get(store, again.delivery_id)
    assert dead.status is DeliveryStatus.DEAD
    assert dead.last_error == {"code": "E2", "message": "again"}
    assert (dead.run_id, dead.attempts, dead.finished_ms) == ("R2", 2, T0 + 5_001)


def test_release_hands_claims_back_and_can_take_back_the_attempt(
    store: Store, add: AddDelivery
) -> None:
    delivery = add()
    _claim(store, "w1", 1, T0)

    with store.begin() as conn:
        released = deliveries.release_deliveries(
            conn, "w1", [delivery.delivery_id], T0 + 1, uncount=True
        )

    back = _get(store, delivery.delivery_id)
    assert released == 1
    assert (back.status, back.attempts, back.lease_owner) == (
        DeliveryStatus.PENDING,
        0,
        None,
    )


def test_renewal_extends_only_the_leases_still_held(
    store: Store, add: AddDelivery
) -> None:
    kept, lost = add(), add()
    _claim(store, "w1", 2, T0 + 10)
    _claim(store, "w2", 1, T0 + 10 + LEASE_MS + 1)

    with store.begin() as conn:
        renewed = deliveries.renew_leases(
            conn, "w1", [kept.delivery_id, lost.delivery_id], T0 + 99_999
        )

    taken_over = {kept.delivery_id, lost.delivery_id} - renewed
    assert len(renewed) == 1
    assert len(taken_over) == 1
    assert _get(store, next(iter(renewed))).lease_expires_ms == T0 + 99_999


def test_skip_records_the_reason(store: Store, add: AddDelivery) -> None:
    delivery = add()
    _claim(store, "w1", 1, T0)

    with store.begin() as conn:
        deliveries.skip_delivery(
            conn, delivery.delivery_id, "w1", SkipReason.FLOW_DISABLED, T0 + 1
        )

    skipped = _get(store, delivery.delivery_id)
    assert (skipped.status, skipped.skip_reason) == (
        DeliveryStatus.SKIPPED,
        SkipReason.FLOW_DISABLED,
    )


def test_redrive_selects_dead_deliveries_by_flow_and_time(
    store: Store, add: AddDelivery
) -> None:
    early = add(status=DeliveryStatus.DEAD, attempts=5, created_ms=T0)
    late = add(status=DeliveryStatus.DEAD, attempts=5, created_ms=T0 + 10_000)
    add(status=DeliveryStatus.DEAD, flow_id="flow-b", created_ms=T0 + 10_000)
    add(status=DeliveryStatus.DONE, created_ms=T0 + 10_000)
    window = DeliveryQuery(flow_ids=("flow-a",), since_ms=T0 + 1, until_ms=T0 + 20_000)

    with store.begin() as conn:
        redriven = deliveries.redrive_deliveries(conn, "P1", window, T0 + 30_000)

    assert redriven == 1
    again = _get(store, late.delivery_id)
    assert (again.status, again.attempts, again.available_ms) == (
        DeliveryStatus.PENDING,
        0,
        T0 + 30_000,
    )
    assert _get(store, early.delivery_id).status is DeliveryStatus.DEAD


def test_list_and_count_filter_by_status_newest_first(
    store: Store, add: AddDelivery
) -> None:
    older = add(status=DeliveryStatus.DEAD)
    newer = add(status=DeliveryStatus.DEAD)
    add()
    dead = DeliveryQuery(statuses=(DeliveryStatus.DEAD,))

    with store.connect() as conn:
        found = deliveries.list_deliveries(conn, "P1", dead)
        total = deliveries.count_deliveries(conn, "P1", dead)
        other_project = deliveries.count_deliveries(conn, "P2", dead)

    assert [d.delivery_id for d in found] == [newer.delivery_id, older.delivery_id]
    assert (total, other_project) == (2, 0)
