"""API key and person session token formats, and their hashing."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "cck_live_"
# A person session token (``POST /v1/person-sessions``): acts for one person, expires.
SESSION_PREFIX = "ccs_"
# A calendar feed token (``POST /v1/people/{id}/calendar-feed``): the secret in a feed URL.
FEED_PREFIX = "ccf_"
SCOPES = ("read", "write", "webhooks", "scim")
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6


def generate_api_key() -> str:
    """A new key: the recognisable prefix and 32 random bytes, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def generate_session_token() -> str:
    """A new person session token: the prefix and 32 random bytes, URL-safe base64."""
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def generate_feed_token() -> str:
    """A new calendar feed token: the prefix and 32 random bytes, URL-safe base64."""
    return FEED_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    """The stored form of an API key, a session or a feed token (never the secret itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]
