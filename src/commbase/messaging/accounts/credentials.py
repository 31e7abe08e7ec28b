"""A WhatsApp account's app secret and access token, kept encrypted at rest.

Both have to be read back (to check Meta's signatures, to call the Cloud API),
so they cannot be hashed; they are encrypted with a Fernet key derived from the
server secret, as webhook signing secrets are (with a key of their own).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet


def _fernet(server_secret: str) -> Fernet:
    key = hmac.new(server_secret.encode(), b"commbase-channel-credentials", hashlib.sha256)
    return Fernet(base64.urlsafe_b64encode(key.digest()))


def encrypt(value: str, *, server_secret: str) -> str:
    return _fernet(server_secret).encrypt(value.encode()).decode()


def decrypt(token: str, *, server_secret: str) -> str:
    return _fernet(server_secret).decrypt(token.encode()).decode()
