"""The collector settings long-running processes apply after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from idflow import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_young_collections_come_later() -> None:
    kept_for_life = [[n] for n in range(1000)]
    _, middle, old = gc.get_threshold()

    collector.settle_after_start_up()

    assert gc.get_freeze_count() >= len(kept_for_life)
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, middle, old)
    # Objects made afterwards are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
