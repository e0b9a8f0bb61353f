"""API key format and hashing."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "cck_live_"
SCOPES = ("read", "write", "webhooks")
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6


def generate_api_key() -> str:
    """A new key: the recognisable prefix and 32 random bytes, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]
