"""ID token verification against a provider's JWKS, with keys that rotate.

Keys are fetched over HTTP (httpx) and kept by key id. A token signed with a key
id not in the cache refetches the set, at most once per ``refetch_min_s`` per
provider, so rotated keys work without a restart and random key ids cannot make
commbase hammer the provider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from commbase.core.errors import InvalidCredentials, ServiceUnavailable

ALGORITHMS = ["RS256", "ES256"]
LEEWAY_S = 30
MAX_JWKS_BYTES = 256 * 1024


class TokenInvalid(InvalidCredentials):
    def __init__(self, reason: str) -> None:
        super().__init__("The ID token was not accepted", reason=reason)


@dataclass
class KeySet:
    url: str
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    def __init__(self, *, refetch_min_s: float, timeout_s: float = 5.0) -> None:
        self.refetch_min_s = refetch_min_s
        self.timeout_s = timeout_s
        self._sets: dict[str, KeySet] = {}

    async def _fetch(self, keyset: KeySet) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as http:
                response = await http.get(keyset.url)
                response.raise_for_status()
                if len(response.content) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS too large")
                document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable("The identity provider's keys could not be read") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            kid = entry.get("kid")
            if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[kid] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key of a type this server does not use
        keyset.keys = keys
        keyset.fetched_at = time.monotonic()

    async def key(self, url: str, kid: str) -> jwt.PyJWK:
        keyset = self._sets.setdefault(url, KeySet(url))
        if kid in keyset.keys:
            return keyset.keys[kid]
        async with keyset.lock:
            if kid not in keyset.keys and (
                time.monotonic() - keyset.fetched_at >= self.refetch_min_s
            ):
                await self._fetch(keyset)
        found = keyset.keys.get(kid)
        if found is None:
            raise TokenInvalid("unknown_key")
        return found


async def verify(
    cache: JwksCache, *, token: str, jwks_url: str, issuer: str, audience: str
) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience and times check out."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed") from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
        raise TokenInvalid("malformed")
    key = await cache.key(jwks_url, kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenInvalid("expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenInvalid("audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenInvalid("issuer") from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalid("invalid") from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenInvalid("invalid")
    return claims
