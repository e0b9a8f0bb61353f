"""Secrets sealed at rest: AES-256-GCM under keys from ``CCAPI_SECRET_KEY``.

A sealed value is text: ``ccs1.<key id>.<base64url(nonce || ciphertext || tag)>``, with a
random 96-bit nonce per sealing and associated data that binds it to its place (for a
webhook secret: the table, tenant and endpoint), so a value copied to another row does not
open. The setting holds one or more keys, comma-separated: the first seals, every one
opens, and the key id (derived from the key) in each value says which key opens it. To
rotate: put a new key first, keep the old ones, run ``ccapi rotate-secret-key`` (re-seals
everything under the first key), then drop the old keys.

In development without a key, one is generated once into ``<data_dir>/secret.key`` (mode
0600); elsewhere the setting is required (``Settings`` refuses to start without it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "ccs1"
KEY_BYTES = 32
NONCE_BYTES = 12
DEV_KEY_FILE = "secret.key"


class SealError(Exception):
    """A sealed value that cannot be opened: unknown key, tampered, or sealed elsewhere."""


def decode_key(text: str) -> bytes:
    """A 32-byte key from standard or URL-safe base64 (padding optional)."""
    text = text.strip()
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"decodes to {len(raw)} bytes, not {KEY_BYTES}")
    return raw


def generate_key() -> str:
    """A new key as the setting takes it (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_keys(value: str) -> list[bytes]:
    """The keys of a ``CCAPI_SECRET_KEY`` value, first one first; ValueError names a bad one."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("holds no key")
    keys: list[bytes] = []
    for number, part in enumerate(parts, 1):
        try:
            keys.append(decode_key(part))
        except ValueError as exc:
            raise ValueError(
                f"key {number} {exc}; each key is 32 random bytes in base64 "
                "(make one with `ccapi generate-secret-key`)"
            ) from None
    return keys


def key_id(key: bytes) -> str:
    """A short public name for a key (8 characters of a hash of it)."""
    digest = hashlib.sha256(b"ccapi secret key id\x00" + key).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode()


class Keyring:
    """Seals with the first key, opens with whichever key a value names."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._ciphers = {key_id(key): AESGCM(key) for key in reversed(keys)}
        self.primary_id = key_id(keys[0])
        self._primary = self._ciphers[self.primary_id]
        self.key_ids = tuple(dict.fromkeys(key_id(key) for key in keys))

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        return cls(parse_keys(value))

    def seal(self, plaintext: bytes, context: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._primary.encrypt(nonce, plaintext, context)
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self.primary_id}.{body}"

    def open(self, token: str, context: bytes) -> bytes:
        version, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if version != VERSION or not body:
            raise SealError("not a sealed value")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealError(
                f"sealed under key {kid}, which CCAPI_SECRET_KEY does not hold "
                f"(it holds {', '.join(self.key_ids)})"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealError(f"sealed value under key {kid} does not open here") from exc

    def is_current(self, token: str) -> bool:
        """Sealed under the first key (nothing to re-seal)."""
        return token.startswith(f"{VERSION}.{self.primary_id}.")

    def reseal(self, token: str, context: bytes) -> str:
        return token if self.is_current(token) else self.seal(self.open(token, context), context)

    def seal_text(self, plaintext: str, context: bytes) -> str:
        return self.seal(plaintext.encode(), context)

    def open_text(self, token: str, context: bytes) -> str:
        return self.open(token, context).decode()


def development_key(data_dir: Path) -> tuple[str, bool]:
    """The development key in ``data_dir/secret.key``, created (0600) if missing; and
    whether it was created now."""
    path = data_dir / DEV_KEY_FILE
    try:
        return path.read_text().strip(), False
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key, True


def webhook_secret_context(tenant_id: object, endpoint_id: object) -> bytes:
    """Associated data of an endpoint's signing secrets (current and previous alike, so
    a rotation moves the sealed value as it is)."""
    return f"webhook_endpoints.secret:{tenant_id}:{endpoint_id}".encode()


def idempotency_context(tenant_id: object, key: str) -> bytes:
    """Associated data of a sealed idempotent response body."""
    return f"idempotency_records.response_body:{tenant_id}:{key}".encode()
