"""External sign-in: ID tokens signed with our own RSA keys, served from a real local
JWKS endpoint, sign in; a wrong audience, issuer or an expired token does not; a
rotated key works once the JWKS changes, without a restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy import select

from commbase.identity.external.jwks import JwksCache, TokenInvalid
from commbase.identity.external.models import ExternalIdentity
from commbase.settings import Settings
from tests.conftest import make_settings
from tests.identity.factories import auth, login, make_tenant

PROJECT = "demo-project"
ISSUER = f"https://securetoken.google.com/{PROJECT}"


@dataclass
class Jwks:
    """A JWKS endpoint on a free local port whose keys a test can change."""

    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    requests: int = 0

    def publish(self, *kids: str) -> None:
        self.current = [kid for kid in kids]

    def document(self) -> dict[str, Any]:
        entries = []
        for kid in self.current:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": entries}

    def new_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": PROJECT,
            "sub": "firebase-uid-1",
            "iat": now,
            "exp": now + 3600,
            "email": "nobody@example.com",
            "email_verified": True,
            **claims,
        }
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    state = Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            body = json.dumps(state.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    state.new_key("k1")
    state.publish("k1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(database_url: str, redis_url: str | None, jwks: Jwks) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        oidc_providers=[
            {"name": "firebase", "issuer": ISSUER, "audience": PROJECT, "jwks_url": jwks.url}
        ],
        jwks_refetch_min_s=0,
    )


async def _sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/external", json={"provider": "firebase", "id_token": token})


async def test_a_firebase_id_token_signs_in_and_rotated_keys_work(
    app: FastAPI, client: httpx.AsyncClient, jwks: Jwks
) -> None:
    tenant = await make_tenant(app)
    first = await _sign_in(client, jwks.token("k1", email=tenant.owner_email))
    assert first.status_code == 200, first.text
    assert first.json()["organization"]["id"] == tenant.org_id
    assert first.json()["user"]["email"] == tenant.owner_email
    me = await client.get("/v1/me", headers=auth(first.json()["token"]))
    assert me.json()["role"] == "owner"

    # Linked by the subject: a later token need not carry the email.
    linked = await _sign_in(client, jwks.token("k1", email="changed@elsewhere.example"))
    assert linked.status_code == 200, linked.text
    async with app.state.db.sessionmaker() as session:
        [row] = (await session.scalars(select(ExternalIdentity))).all()
        assert row.subject_hash != "firebase-uid-1"
        assert "firebase-uid-1" not in row.subject_hash

    # The provider rotates: k2 replaces k1, and commbase follows without a restart.
    jwks.new_key("k2")
    jwks.publish("k2")
    rotated = await _sign_in(client, jwks.token("k2"))
    assert rotated.status_code == 200, rotated.text
    retired = await _sign_in(client, jwks.token("k1"))
    assert retired.status_code == 401


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-project"}, "audience"),
        ({"iss": "https://securetoken.google.com/another-project"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ],
)
async def test_wrong_audience_issuer_or_expired_tokens_are_refused(
    app: FastAPI, client: httpx.AsyncClient, jwks: Jwks, claims: dict[str, Any], reason: str
) -> None:
    tenant = await make_tenant(app)
    refused = await _sign_in(client, jwks.token("k1", email=tenant.owner_email, **claims))
    assert refused.status_code == 401
    assert refused.json()["reason"] == reason
    assert "token" not in refused.json()


async def test_forged_unlinked_and_unknown_provider_tokens_are_refused(
    app: FastAPI, client: httpx.AsyncClient, jwks: Jwks
) -> None:
    tenant = await make_tenant(app)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": ISSUER,
            "aud": PROJECT,
            "sub": "x",
            "iat": now,
            "exp": now + 60,
            "email": tenant.owner_email,
            "email_verified": True,
        },
        forger,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert (await _sign_in(client, forged)).status_code == 401
    unverified = await _sign_in(
        client, jwks.token("k1", email=tenant.owner_email, email_verified=False)
    )
    assert unverified.status_code == 401
    assert unverified.json()["reason"] == "not_linked"
    unknown = await client.post(
        "/v1/auth/external", json={"provider": "nope", "id_token": jwks.token("k1")}
    )
    assert unknown.status_code == 400
    garbage = await _sign_in(client, "not.a.jwt")
    assert garbage.status_code == 401


async def test_a_signed_in_user_links_an_identity(
    app: FastAPI, client: httpx.AsyncClient, jwks: Jwks
) -> None:
    tenant = await make_tenant(app)
    session_token = await login(client, tenant.owner_email)
    token = jwks.token("k1", sub="oidc-sub-7", email="other@example.com", email_verified=False)
    linked = await client.post(
        "/v1/me/external-identities",
        json={"provider": "firebase", "id_token": token},
        headers=auth(session_token),
    )
    assert linked.status_code == 201, linked.text
    assert "oidc-sub-7" not in linked.text
    listed = await client.get("/v1/me/external-identities", headers=auth(session_token))
    assert [i["provider"] for i in listed.json()["data"]] == ["firebase"]
    signed = await _sign_in(client, token)
    assert signed.status_code == 200, signed.text
    assert signed.json()["user"]["email"] == tenant.owner_email
    again = await client.post(
        "/v1/me/external-identities",
        json={"provider": "firebase", "id_token": token},
        headers=auth(session_token),
    )
    assert again.status_code == 409


async def test_unknown_key_ids_refetch_at_most_once_per_interval(jwks: Jwks) -> None:
    cache = JwksCache(refetch_min_s=60)
    assert await cache.key(jwks.url, "k1")
    for _ in range(5):
        with pytest.raises(TokenInvalid):
            await cache.key(jwks.url, "random-kid")
    assert jwks.requests == 1
