"""Secrets at rest: AES-GCM bound to the connector, keyrings, key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from idflow.connectors.secrets import (
    Keyring,
    generate_key,
    load_keyring,
    parse_keys,
    write_key_file,
)
from idflow.errors import ConfigurationError


def test_secrets_round_trip_and_the_ciphertext_names_only_the_key_id() -> None:
    ring = Keyring((generate_key(),), "test")

    sealed = ring.encrypt({"token": "abc-123"}, "C1")

    assert ring.decrypt(sealed, "C1") == {"token": "abc-123"}
    assert sealed.startswith(f"v1.{ring.current.key_id}.")
    assert "abc-123" not in sealed
    assert ring.current.to_text() not in sealed


def test_a_ciphertext_moved_to_another_connector_does_not_open() -> None:
    ring = Keyring((generate_key(),), "test")
    sealed = ring.encrypt({"token": "abc"}, "C1")

    with pytest.raises(ConfigurationError, match="integrity check"):
        ring.decrypt(sealed, "C2")


def test_a_ciphertext_under_a_missing_key_names_where_the_keys_came_from() -> None:
    sealed = Keyring((generate_key(),), "old").encrypt({"token": "abc"}, "C1")

    with pytest.raises(
        ConfigurationError, match="not among the keys from IDFLOW_SECRET_KEY"
    ):
        Keyring((generate_key(),), "IDFLOW_SECRET_KEY").decrypt(sealed, "C1")


def test_every_key_of_a_ring_decrypts_and_the_first_encrypts() -> None:
    old, new = generate_key(), generate_key()
    sealed_old = Keyring((old,), "x").encrypt({"a": "1"}, "C1")

    ring = parse_keys(f"{new.to_text()}, {old.to_text()}\n", "x")

    assert ring.decrypt(sealed_old, "C1") == {"a": "1"}
    assert ring.current == new
    assert ring.needs_rekey(old.key_id)
    assert not ring.needs_rekey(new.key_id)


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not 32 bytes"):
        parse_keys("too-short", "IDFLOW_SECRET_KEY")


def test_the_environment_key_wins_over_the_key_file(tmp_path: Path) -> None:
    inline, filed = generate_key(), generate_key()
    write_key_file(tmp_path / "k", (filed,))

    ring = load_keyring(
        {
            "IDFLOW_SECRET_KEY": inline.to_text(),
            "IDFLOW_SECRET_KEY_FILE": str(tmp_path / "k"),
        }
    )

    assert ring.current == inline
    assert (
        load_keyring({"IDFLOW_SECRET_KEY_FILE": str(tmp_path / "k")}).current == filed
    )


def test_no_key_anywhere_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="run `idflow init`"):
        load_keyring({"IDFLOW_SECRET_KEY_FILE": str(tmp_path / "absent.key")})


def test_key_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret.key"

    write_key_file(path, (generate_key(), generate_key()))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().split()) == 2


def test_no_repr_shows_a_key() -> None:
    key = generate_key()

    assert key.to_text() not in repr(Keyring((key,), "test"))
