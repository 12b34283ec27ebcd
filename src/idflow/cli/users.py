"""`idflow user`: create, show, list, enable and disable users."""

from __future__ import annotations

import click

from idflow.cli.output import print_json, print_table, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import users as user_store
from idflow.store.records import UserStatus


@click.group()
def user() -> None:
    """Create, show, list, enable and disable users."""


@user.command("create")
@click.argument("login_id")
@click.option("--email", help="Email address.")
@click.option("--phone", help="Phone number, E.164 (+15551234567).")
@click.option("--name", help="Display name.")
@click.option(
    "--json", "json_output", is_flag=True, help="Print the user as the API answers it."
)
@pass_state
def create(
    state: CliState,
    login_id: str,
    email: str | None,
    phone: str | None,
    name: str | None,
    json_output: bool,
) -> None:
    """Create a user with a login id; prints the user, with its userId."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.begin() as conn:
            created = user_service.create_user(
                conn,
                CLI_ACTOR,
                chosen.project_id,
                login_id,
                email=email,
                phone=phone,
                name=name,
            )
    _show(user_service.user_to_wire(created), json_output)


@user.command("get")
@click.argument("login_or_user_id")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def get(state: CliState, login_or_user_id: str, json_output: bool) -> None:
    """Show a user by login id or user id."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = user_service.require_user(conn, chosen.project_id, login_or_user_id)
            wire = user_service.user_to_wire(
                found, user_service.tenant_names_for(conn, found)
            )
    _show(wire, json_output)


@user.command("list")
@click.option("--limit", default=100, show_default=True, help="How many users to show.")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def list_users(state: CliState, limit: int, json_output: bool) -> None:
    """List the project's users."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = user_store.list_users(conn, chosen.project_id, limit=limit)
    if json_output:
        print_json([user_service.user_to_wire(u) for u in found])
        return
    print_table(
        ["USER ID", "LOGIN IDS", "STATUS", "EMAIL", "CREATED (UTC)"],
        [
            (
                u.user_id,
                ", ".join(u.login_ids),
                u.status,
                u.email or "",
                when(u.created_ms),
            )
            for u in found
        ],
    )


@user.command("disable")
@click.argument("login_or_user_id")
@pass_state
def disable(state: CliState, login_or_user_id: str) -> None:
    """Disable a user."""
    _set_status(state, login_or_user_id, UserStatus.DISABLED)


@user.command("enable")
@click.argument("login_or_user_id")
@pass_state
def enable(state: CliState, login_or_user_id: str) -> None:
    """Enable a user."""
    _set_status(state, login_or_user_id, UserStatus.ENABLED)


def _set_status(state: CliState, ref: str, status: UserStatus) -> None:
    with handled_errors():
        chosen = state.project()
        with state.open().store.begin() as conn:
            found = user_service.require_user(conn, chosen.project_id, ref)
            changed = user_service.set_status(conn, CLI_ACTOR, found, status)
    click.echo(f"User {changed.user_id} is {changed.status}.")


def _show(wire: dict[str, object], json_output: bool) -> None:
    if json_output:
        print_json({"user": wire})
        return
    for label, key in (
        ("User id", "userId"),
        ("Login ids", "loginIds"),
        ("Status", "status"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Name", "name"),
    ):
        value = wire.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        click.echo(f"{label + ':':<11}{value or '-'}")
