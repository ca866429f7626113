"""Secrets handed out once (API tokens, enrollment tokens, agent credentials, lease tokens).

Only a SHA-256 digest is stored. The secrets carry 256 bits of randomness, so a fast hash is
enough: there is nothing to brute-force, and lookups stay a unique-index probe.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32
PREFIX_CHARS = 12

API_TOKEN = "hwu"
ENROLLMENT_TOKEN = "hwe"
AGENT_CREDENTIAL = "hwa"
LEASE_TOKEN = "hwl"


def generate_token(kind: str) -> str:
    """A fresh secret such as ``hwu_<43 url-safe characters>``; ``kind`` tells them apart."""
    return f"{kind}_{secrets.token_urlsafe(TOKEN_BYTES)}"


def hash_token(token: str) -> str:
    """Hex SHA-256 of the secret: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_prefix(token: str) -> str:
    """The first characters, safe to show so people can tell their tokens apart."""
    return token[:PREFIX_CHARS]
