"""What the engine's store tests share: a runtime on the real store, a project, saving flows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.settings import Settings
from idflow.store.database import Store
from idflow.store.migrate import upgrade

# Saves an authoring-form flow and answers the version it became.
SaveFlow = Callable[[dict[str, Any]], int]


@pytest.fixture
def runtime(store: Store) -> Iterator[Runtime]:
    runtime = Runtime(store, Settings(database_url="unused-the-store-is-given"))
    yield runtime
    if runtime.executor is not None:
        runtime.executor.shutdown()


@pytest.fixture
def file_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a migrated SQLite file, for tests of the writer process.

    The writer process opens the store by its URL, so the settings carry it.
    """
    url = f"sqlite:///{tmp_path / 'idflow.db'}"
    store = Store.open(url)
    upgrade(store)
    runtime = Runtime(store, Settings(database_url=url))
    yield runtime
    runtime.close()


@pytest.fixture
def project_id(runtime: Runtime) -> str:
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "Acme")
    return project.project_id


@pytest.fixture
def save_flow(runtime: Runtime, project_id: str) -> SaveFlow:
    def save(authoring: dict[str, Any]) -> int:
        document = compile_authoring(authoring)
        with runtime.store.begin() as conn:
            saved = flow_service.save_flow(conn, CLI_ACTOR, project_id, document)
        return saved.version.version

    return save
