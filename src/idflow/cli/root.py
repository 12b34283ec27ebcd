"""The root of the `idflow` command: global options, the store, and exit codes.

Exit codes are contract: 0 the command did what it was asked; 1 it ran but
failed (a flow run failed, an entity was missing, the store refused); 2 the
command was used wrongly or its input did not validate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from idflow.cli.output import print_json
from idflow.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    FlowDefinitionError,
    IdflowError,
    PayloadTooLarge,
)
from idflow.runtime import Runtime
from idflow.services import projects
from idflow.settings import Settings
from idflow.store.records import Project

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_T = TypeVar("_T")


@dataclass(slots=True)
class CliState:
    """Options every command sees, and the runtime opened on first use."""

    project_option: str | None
    settings: Settings
    runtime: Runtime | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def open(self) -> Runtime:
        """Open the store (migrating a SQLite one) the first time it is needed."""
        if self.runtime is None:
            self.runtime = Runtime.open(self.settings)
        return self.runtime

    def project(self) -> Project:
        """The project chosen by --project / IDFLOW_PROJECT, or the only one."""
        runtime = self.open()
        with runtime.store.connect() as conn:
            return projects.resolve_project(conn, self.project_option)


pass_state = click.make_pass_decorator(CliState)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--project",
    "project_option",
    envvar="IDFLOW_PROJECT",
    help="Project id to work in (env IDFLOW_PROJECT); defaults to the only project.",
)
@click.version_option(package_name="idflow")
@click.pass_context
def cli(ctx: click.Context, project_option: str | None) -> None:
    """idflow: run identity management flows, self-hosted.

    The store is chosen by IDFLOW_DATABASE_URL (default sqlite:///var/idflow.db).
    """
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise click.UsageError(exc.message) from None
    state = CliState(project_option, settings)
    ctx.obj = state
    ctx.call_on_close(lambda: state.runtime.close() if state.runtime else None)


@contextmanager
def handled_errors(json_output: bool = False) -> Iterator[None]:
    """Turn idflow errors into a message on stderr (or JSON) and the right exit code."""
    try:
        yield
    except FlowDefinitionError as exc:
        _report(exc, json_output, {"problems": [p.to_dict() for p in exc.problems]})
        sys.exit(EXIT_USAGE)
    except (BadRequest, PayloadTooLarge, ConfigurationError) as exc:
        _report(exc, json_output)
        sys.exit(EXIT_USAGE)
    except IdflowError as exc:
        _report(exc, json_output)
        sys.exit(EXIT_FAILED)


def _report(
    exc: IdflowError, json_output: bool, extra: dict[str, Any] | None = None
) -> None:
    if json_output:
        body: dict[str, Any] = (
            exc.to_body()
            if isinstance(exc, ApiError)
            else {"errorMessage": exc.message}
        )
        print_json({**body, **(extra or {})})
    else:
        click.echo(click.style("Error: ", fg="red", bold=True) + exc.message, err=True)
