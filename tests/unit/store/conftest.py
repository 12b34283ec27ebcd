"""Unit tests of the store run every factory on one in-memory SQLite store."""

from __future__ import annotations

import pytest

from idflow.store.database import Store


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store
