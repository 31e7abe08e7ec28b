"""A connect-mode number's handshake secret: ``cbcs_<base64>``.

commbase signs its connection to the agent's ``wss://`` URL with it
(``calls.live.connect_out``) and the agent verifies the signature, so both must
read it: it is shown once (when the number becomes a connect number, or when the
secret is rotated) and kept encrypted with a key derived from the server secret,
like webhook signing secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet

PREFIX = "cbcs_"


def new_secret() -> str:
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()


def _fernet(server_secret: str) -> Fernet:
    key = hmac.new(server_secret.encode(), b"commbase-connect-secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, *, server_secret: str) -> str:
    return _fernet(server_secret).encrypt(secret.encode()).decode()


def decrypt(token: str, *, server_secret: str) -> str:
    return _fernet(server_secret).decrypt(token.encode()).decode()
