"""Connector secrets at rest: AES-256-GCM under the operator's key, and key files.

A key is 32 random bytes written as unpadded URL-safe base64. The operator gives
one or more keys, separated by commas or new lines, in IDFLOW_SECRET_KEY or in
the file IDFLOW_SECRET_KEY_FILE names (default `var/secret.key`): the first key
encrypts, every key decrypts, which is what lets `idflow connector rotate-key`
move secrets to a new key without a moment where some cannot be read.

A ciphertext is `v1.<key id>.<base64 of nonce and sealed box>`. The key id is
the first 16 hex digits of the key's SHA-256, so it names the key without
revealing it. The connector id is bound in as associated data, so a ciphertext
copied onto another connector fails to open.

This module touches the key file and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idflow.errors import ConfigurationError

KEY_BYTES = 32
NONCE_BYTES = 12
DEFAULT_KEY_FILE = "var/secret.key"
_FORMAT = "v1"
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class SecretKey:
    """One AES-256 key with its public id."""

    key_id: str
    # Never in a repr, so a traceback or a debug print cannot show the key.
    material: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> SecretKey:
        """Read a key written as URL-safe base64.

        Raises:
            ConfigurationError: when the text is not 32 bytes of base64.
        """
        try:
            material = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            material = b""
        if len(material) != KEY_BYTES:
            raise ConfigurationError(
                "A secret key is not 32 bytes of URL-safe base64; make one with `idflow init` or `idflow connector rotate-key`."
            )
        return cls(hashlib.sha256(material).hexdigest()[:16], material)

    def to_text(self) -> str:
        """The key as written in key files and IDFLOW_SECRET_KEY."""
        return base64.urlsafe_b64encode(self.material).decode().rstrip("=")


def generate_key() -> SecretKey:
    """Return a new random key."""
    return SecretKey.from_text(
        base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    )


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys in force: the first encrypts, all of them decrypt.

    Attributes:
        source: where the keys came from (a variable name or a file path), for
            messages; never the keys themselves.
    """

    keys: tuple[SecretKey, ...]
    source: str

    @property
    def current(self) -> SecretKey:
        """The key new ciphertexts are made with."""
        return self.keys[0]

    def encrypt(self, values: Mapping[str, str], connector_id: str) -> str:
        """Seal a connector's secrets into one ciphertext under the current key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.current.material).encrypt(
            nonce, orjson.dumps(dict(values)), connector_id.encode()
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

        return f"{_FORMAT}.{self.current.key_id}.{body}"

    def decrypt(self, ciphertext: str, connector_id: str) -> dict[str, str]:
        """Open a ciphertext made by `encrypt` for this connector.

        Raises:
            ConfigurationError: when no key in the ring made it, or it was
                altered or belongs to another connector.
        """
        form, key_id, body = _split(ciphertext)
        key = next((k for k in self.keys if k.key_id == key_id), None)
        if form != _FORMAT or key is None:
            raise ConfigurationError(
                f"Connector secrets are under key {key_id!r}, which is not among the keys from {self.source}; add it back to decrypt them."
            )
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            plain = AESGCM(key.material).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], connector_id.encode()
            )
        except InvalidTag:
            raise ConfigurationError(
                "Connector secrets failed their integrity check: the ciphertext was altered or belongs to another connector."
            ) from None
        values: dict[str, str] = orjson.loads(plain)

        return values

    def needs_rekey(self, key_id: str | None) -> bool:
        """True when a ciphertext under `key_id` is not under the current key."""
        return key_id is not None and key_id != self.current.key_id


def _split(ciphertext: str) -> tuple[str, str, str]:
    parts = ciphertext.split(".", 2)
    if len(parts) != 3:
        return "", "", ""
    return parts[0], parts[1], parts[2]


def parse_keys(text: str, source: str) -> Keyring:
    """Read one or more keys separated by commas or white space.

    Raises:
        ConfigurationError: when there is no key or one is malformed.
    """
    keys = tuple(SecretKey.from_text(part) for part in _SEPARATORS.split(text) if part)
    if not keys:
        raise ConfigurationError(f"{source} holds no secret key.")
    return Keyring(keys, source)


def load_keyring(env: Mapping[str, str]) -> Keyring:
    """Find the keys: IDFLOW_SECRET_KEY, else the file IDFLOW_SECRET_KEY_FILE names.

    Raises:
        ConfigurationError: when neither gives a key, naming how to make one.
    """
    inline = env.get("IDFLOW_SECRET_KEY")
    if inline:
        return parse_keys(inline, "IDFLOW_SECRET_KEY")
    path = Path(env.get("IDFLOW_SECRET_KEY_FILE") or DEFAULT_KEY_FILE)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigurationError(
            f"No secret key for connector secrets: set IDFLOW_SECRET_KEY, or IDFLOW_SECRET_KEY_FILE, or run `idflow init` to create {path}."
        ) from None
    return parse_keys(text, str(path))


def key_file_path(env: Mapping[str, str]) -> Path | None:
    """The key file in use, or None when the keys come from IDFLOW_SECRET_KEY."""
    if env.get("IDFLOW_SECRET_KEY"):
        return None
    return Path(env.get("IDFLOW_SECRET_KEY_FILE") or DEFAULT_KEY_FILE)


def write_key_file(path: Path, keys: tuple[SecretKey, ...]) -> None:
    """Write keys to a file readable by its owner only, replacing it atomically.

    The file is written beside its final name and renamed over it, so a reader
    sees the old keys or the new ones, never half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(key.to_text() for key in keys) + "\n")
    os.chmod(staging, 0o600)
    os.replace(staging, path)
