"""Secret tokens: random, prefixed, checksummed, stored only as HMAC-SHA256.

    cb_live_<30 base62 chars><6 char checksum>   API key, live
    cb_test_<30 base62 chars><6 char checksum>   API key, test
    cb_sess_<40 base62 chars><6 char checksum>   login session
    cb_agt_<40 base62 chars><6 char checksum>    agent session
    cb_pub_<30 base62 chars><6 char checksum>    publishable key (intake routes only)
    cb_acc_<30 base62 chars><6 char checksum>    a visitor's access to one intake record

The checksum (CRC32 of the random part, base62) lets a malformed or mistyped
token be refused without touching the database, and lets secret scanners tell
a real token from noise, as GitHub's tokens do. High-entropy tokens need a
fast keyed hash, not a password hash: HMAC-SHA256 with the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass
from enum import StrEnum

_ALPHABET = string.digits + string.ascii_letters
_CHECKSUM_LEN = 6


class TokenKind(StrEnum):
    API_KEY = "api_key"
    LOGIN_SESSION = "login_session"
    AGENT_SESSION = "agent_session"
    PUBLISHABLE_KEY = "publishable_key"
    INTAKE_ACCESS = "intake_access"


PREFIXES: dict[str, TokenKind] = {
    "cb_live_": TokenKind.API_KEY,
    "cb_test_": TokenKind.API_KEY,
    "cb_sess_": TokenKind.LOGIN_SESSION,
    "cb_agt_": TokenKind.AGENT_SESSION,
    "cb_pub_": TokenKind.PUBLISHABLE_KEY,
    "cb_acc_": TokenKind.INTAKE_ACCESS,
}
# Tokens a website visitor holds: they open /v1/intake routes and nothing else.
INTAKE_KINDS = frozenset({TokenKind.PUBLISHABLE_KEY, TokenKind.INTAKE_ACCESS})


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LEN)


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    prefix: str  # safe to show: the first 12 characters
    kind: TokenKind


def generate(prefix: str, *, length: int = 30) -> NewToken:
    """A new random token with ``prefix`` (one of ``PREFIXES``)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    token = f"{prefix}{body}{_checksum(body)}"
    return NewToken(token=token, prefix=token[:12], kind=PREFIXES[prefix])


def derive(prefix: str, *, secret: str, label: str, length: int = 30) -> NewToken:
    """A token derived from ``secret`` and ``label``: the same every time (demo data)."""
    digest = int.from_bytes(hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest())
    body = _base62(digest, length)
    token = f"{prefix}{body}{_checksum(body)}"
    return NewToken(token=token, prefix=token[:12], kind=PREFIXES[prefix])


def classify(token: str) -> TokenKind | None:
    """The kind of a well-formed token, or None if the prefix or checksum is wrong."""
    for prefix, kind in PREFIXES.items():
        if token.startswith(prefix):
            rest = token[len(prefix) :]
            if len(rest) <= _CHECKSUM_LEN or len(rest) > 128:
                return None
            body, check = rest[:-_CHECKSUM_LEN], rest[-_CHECKSUM_LEN:]
            if not all(c in _ALPHABET for c in rest):
                return None
            return kind if hmac.compare_digest(_checksum(body), check) else None
    return None


def hash_token(token: str, *, secret: str) -> str:
    """HMAC-SHA256 of the token with the server secret, hex encoded."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
