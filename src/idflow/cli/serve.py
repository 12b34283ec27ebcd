"""`idflow serve` and `idflow migrate`: run the API, bring a store up to date."""

from __future__ import annotations

import logging

import click
import uvicorn

from idflow.api.app import create_app
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.collector import settle_after_start_up
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import migrate as store_migrate
from idflow.store import projects as project_store
from idflow.store.database import Store
from idflow.workers.worker import Worker

logger = logging.getLogger(__name__)

# Runs of the embedded SQLite worker go one by one; a claim of this many more
# saves a write transaction per run, and holds none of them long.
SQLITE_PREFETCH = 16


@click.command()
@click.option(
    "--host", help="Address to listen on (env IDFLOW_HOST, default 127.0.0.1)."
)
@click.option(
    "--port", type=int, help="Port to listen on (env IDFLOW_PORT, default 8080)."
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Run no worker in this process; event-triggered flows and asynchronous runs wait for `idflow worker`.",
)
@pass_state
def serve(state: CliState, host: str | None, port: int | None, no_worker: bool) -> None:
    """Serve the management API, and run event-triggered flows.

    On SQLite the store is migrated on start; on PostgreSQL an outdated schema is
    refused until `idflow migrate` has run. With an empty store, a first project
    and management key are created and printed once. A worker runs in the same
    process unless --no-worker is given: on SQLite one run at a time, on the
    store thread unless the flow calls connectors; on PostgreSQL
    IDFLOW_WORKER_CONCURRENCY runs at once.
    """
    configure_logging(state.settings.log_level)
    with handled_errors():
        runtime = state.open()
        _first_project(runtime)
    bind_host = host or state.settings.host
    bind_port = port or state.settings.port
    logger.info(
        "idflow serving on http://%s:%d with %s",
        bind_host,
        bind_port,
        runtime.store.url_for_display,
        extra={"event_name": "server_started"},
    )
    embedded = None if no_worker else _embedded_worker(runtime)
    app = create_app(
        runtime, record_writer_process=state.settings.record_writer == "process"
    )
    settle_after_start_up()
    try:
        uvicorn.run(
            app,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            server_header=False,
            # idflow reads no client address (keys, not addresses, are who
            # calls), so uvicorn need not rewrite it from X-Forwarded-For.
            proxy_headers=False,
        )
    finally:
        # uvicorn returns once a signal has drained the requests; the worker
        # then finishes or hands back its claims before the store closes.
        if embedded is not None:
            embedded.stop()


def _embedded_worker(runtime: Runtime) -> Worker:
    if runtime.store.dialect_name == "sqlite":
        # SQLite has one write lock: runs share the API's one store thread
        # rather than wait for the lock behind it (decision 0005), except runs
        # that wait on connectors, which stay on the run thread (decision 0011).
        embedded = Worker(
            runtime,
            concurrency=1,
            prefetch=SQLITE_PREFETCH,
            run_in=lambda work: runtime.submit_blocking(work).result(),
        )
    else:
        embedded = Worker(runtime)
    embedded.start()
    return embedded


def _first_project(runtime: Runtime) -> None:
    with runtime.store.begin() as conn:
        if project_store.list_projects(conn):
            return
        created, issued = project_service.create_project(conn, CLI_ACTOR, "default")
    click.echo("Created the first project. Its management key is shown only now:")
    click.echo(f"  Project id:     {created.project_id}")
    click.echo(f"  Management key: {issued.secret}")
    click.echo(f"  Authorization:  Bearer {created.project_id}:{issued.secret}")


@click.command()
@pass_state
def migrate(state: CliState) -> None:
    """Bring the store's schema up to date (safe to run again)."""
    with handled_errors():
        store = Store.open(state.settings.database_url)
        try:
            before = store_migrate.current_revision(store)
            store_migrate.upgrade(store)
            after = store_migrate.current_revision(store)
        finally:
            store.dispose()
    if before == after:
        click.echo(
            f"The store at {store.url_for_display} is up to date (revision {after})."
        )
    else:
        click.echo(
            f"Migrated {store.url_for_display} from {before or 'empty'} to {after}."
        )
