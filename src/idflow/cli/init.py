"""`idflow init`: prepare the embedded default: the store and the secret key file."""

from __future__ import annotations

import click

from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.connectors.secrets import (
    generate_key,
    key_file_path,
    load_keyring,
    write_key_file,
)


@click.command()
@pass_state
def init(state: CliState) -> None:
    """Create the store and the key that encrypts connector secrets (safe to run again).

    The key goes to IDFLOW_SECRET_KEY_FILE (default var/secret.key), readable by
    its owner only. Nothing is made when IDFLOW_SECRET_KEY holds the keys.
    """
    env = state.settings.connectors.env
    with handled_errors():
        runtime = state.open()
        click.echo(f"Store ready at {runtime.store.url_for_display}.")
        path = key_file_path(env)
        if path is None:
            click.echo("Secret keys come from IDFLOW_SECRET_KEY; no key file is made.")
            return
        if path.exists():
            keyring = load_keyring(env)
            click.echo(
                f"Secret key file {path} exists (key {keyring.current.key_id}); left as it is."
            )
            return
        key = generate_key()
        write_key_file(path, (key,))
    click.echo(f"Created the secret key for connector secrets at {path} (mode 0600).")
    click.echo(
        "Back it up apart from the database: without it, connector secrets cannot be read."
    )
