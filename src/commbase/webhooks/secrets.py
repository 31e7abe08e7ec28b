"""Webhook signing secrets: ``whsec_<base64>``, kept encrypted at rest.

A signing secret has to be read back to sign, so it cannot be hashed like an
API key; it is encrypted with a Fernet key derived from the server secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _fernet(server_secret: str) -> Fernet:
    key = hmac.new(server_secret.encode(), b"commbase-webhook-secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, *, server_secret: str) -> str:
    return _fernet(server_secret).encrypt(secret.encode()).decode()


def decrypt(token: str, *, server_secret: str) -> str:
    return _fernet(server_secret).decrypt(token.encode()).decode()
