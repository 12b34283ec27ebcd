"""`idflow serve` and `idflow migrate`: run the API, bring a store up to date."""

from __future__ import annotations

import logging

import click
import uvicorn

from idflow.api.app import create_app
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import migrate as store_migrate
from idflow.store import projects as project_store
from idflow.store.database import Store

logger = logging.getLogger(__name__)


@click.command()
@click.option(
    "--host", help="Address to listen on (env IDFLOW_HOST, default 127.0.0.1)."
)
@click.option(
    "--port", type=int, help="Port to listen on (env IDFLOW_PORT, default 8080)."
)
@pass_state
def serve(state: CliState, host: str | None, port: int | None) -> None:
    """Serve the management API.

    On SQLite the store is migrated on start; on PostgreSQL an outdated schema is
    refused until `idflow migrate` has run. With an empty store, a first project
    and management key are created and printed once.
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
    uvicorn.run(
        create_app(runtime),
        host=bind_host,
        port=bind_port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


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
