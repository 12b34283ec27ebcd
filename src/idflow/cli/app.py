"""The `idflow` console script: the root command with every command group added."""

from __future__ import annotations

from idflow.cli import (
    connectors,
    deliveries,
    events,
    flows,
    init,
    projects,
    runs,
    serve,
    users,
    worker,
)
from idflow.cli.root import cli

for group in (projects.project, projects.key, flows.flow, users.user, runs.runs):
    cli.add_command(group)
cli.add_command(serve.serve)
cli.add_command(serve.migrate)
cli.add_command(connectors.connector)
cli.add_command(init.init)
for command in (events.events, deliveries.deliveries, worker.worker):
    cli.add_command(command)


def main() -> None:
    """Run the `idflow` command line."""
    cli(prog_name="idflow")
