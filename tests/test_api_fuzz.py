"""Property-based fuzz of every operation against the app's own OpenAPI (schemathesis).

For each operation in ``app.openapi()``, schemathesis generates requests from the
schema -- valid ones, and invalid ones (wrong types, missing fields, values out of
range) -- and sends them in process to a running app, authenticated as an
organization's owner (a login session holds every scope). Half the examples of an
operation with a path parameter name one of that organization's real records
(from the tenant-isolation walk's world), so writes reach their rows. Every
answer must be below 500 and match what the schema declares for its status
(JSON bodies against their models, refusals as problem+json).

The run is bounded and reproducible: ``COMMBASE_FUZZ_EXAMPLES`` examples per
operation and generation mode (default 8), derandomized. Set
``COMMBASE_FUZZ_EXAMPLES=200 COMMBASE_FUZZ_SEED=<n>`` to search harder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from commbase.app import create_app
from tests.conftest import make_settings, module_stack
from tests.identity.factories import auth
from tests.test_tenant_isolation import RECORD_PARAMS, World, _lookup, build_world

EXAMPLES = int(os.environ.get("COMMBASE_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("COMMBASE_FUZZ_SEED")
ROOMY = {"limit": 1_000_000, "window_s": 60}
BASE_URL = "http://commbase.test"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
METHODS = ("get", "put", "post", "patch", "delete")

# The route table, read once from an app that is never started.
OPENAPI = create_app(make_settings("sqlite+aiosqlite://", None)).openapi()
SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in OPENAPI["paths"].items()
    for method in operations
    if method in METHODS
)

# Operations sent with the owner's API key instead of the login session the fuzz
# acts with: signing out would end that session for every later example.
WITH_API_KEY = {("POST", "/v1/auth/logout")}

# 5xx the fuzz found in other helpers' domains, routed to their owners. Temporary:
# each entry names the operation; remove it once the operation is fixed.
KNOWN_5XX: dict[tuple[str, str], str] = {}


@dataclass
class Fuzz:
    """A running app in its own event loop, and the organization the fuzz acts as."""

    portal: BlockingPortal
    client: httpx.AsyncClient
    world: World
    session_headers: dict[str, str]
    key_headers: dict[str, str]
    # Records the fuzz must not name: the user, member and session it acts with.
    spared: frozenset[str]

    def real_ids(self, path: str, params: list[str]) -> dict[str, str] | None:
        """Real records of the organization for ``path``'s parameters, if it has them all."""
        chosen = {}
        for param in params:
            kind = _lookup(RECORD_PARAMS, path, param)
            candidates = [i for i in self.world.records.get(kind or "", []) if i not in self.spared]
            if not candidates:
                return None
            chosen[param] = candidates[-1]
        return chosen

    def send(self, case: schemathesis.Case[Any], headers: dict[str, str]) -> httpx.Response:
        sent = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        request: dict[str, Any] = {
            "method": sent["method"],
            "url": sent["url"],
            "headers": sent.get("headers"),
            "params": sent.get("params"),
        }
        if "json" in sent:
            request["json"] = sent["json"]
        data = sent.get("data")
        if isinstance(data, bytes | str):
            request["content"] = data
        elif data is not None:
            request["data"] = data
        if sent.get("files"):
            request["files"] = sent["files"]
        return self.portal.call(partial(self.client.request, **request))


@pytest.fixture(scope="module")
def fuzz(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzz]:
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "fuzz")
    app_settings = make_settings(
        database_url,
        redis_url,
        rate_limit_tiers={"standard": ROOMY, "free": ROOMY, "premium": ROOMY},
        session_rate_limit=ROOMY["limit"],
        anonymous_rate_limit=ROOMY["limit"],
        login_ip_limit=ROOMY["limit"],
        login_email_limit=ROOMY["limit"],
        # Provider callbacks then check signatures (and refuse the fuzz's) instead of
        # answering that the provider is not configured.
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="fuzz-twilio-token",
        stripe_webhook_secret="whsec_fuzz",
    )
    app = create_app(app_settings)
    # The app lives in the portal's event loop; hypothesis drives it from this thread.
    with start_blocking_portal() as portal:
        lifespan = portal.call(_started, app)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        try:
            world = portal.call(build_world, app, client)
            session = world.secrets["owner login session"]
            me = portal.call(partial(client.get, "/v1/me", headers=auth(session))).json()
            members = world.records["members"]
            own_member = portal.call(
                partial(client.get, "/v1/members?limit=100", headers=world.a.headers)
            ).json()["data"]
            spared = {world.a.owner_id, me["principal"]["id"]}
            spared |= {m["id"] for m in own_member if m["user"]["id"] == world.a.owner_id}
            assert spared & set(members), "the owner's membership should be among the records"
            yield Fuzz(
                portal=portal,
                client=client,
                world=world,
                session_headers=auth(session),
                key_headers=world.a.headers,
                spared=frozenset(spared),
            )
        finally:
            portal.call(client.aclose)
            portal.call(lifespan.__aexit__, None, None, None)


async def _started(app: FastAPI) -> LifespanManager:
    manager = LifespanManager(app)
    await manager.__aenter__()
    return manager


def _strategies(fuzz: Fuzz, method: str, path: str) -> st.SearchStrategy[schemathesis.Case[Any]]:
    operation = SCHEMA[path][method]
    spec = OPENAPI["paths"][path][method.lower()]
    path_params = [p["name"] for p in spec.get("parameters", []) if p["in"] == "path"]
    takes_input = bool(spec.get("parameters")) or "requestBody" in spec
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input else [])
    choices = [operation.as_strategy(generation_mode=mode) for mode in modes]
    real = fuzz.real_ids(path, path_params) if path_params else None
    if real:
        choices += [
            operation.as_strategy(generation_mode=mode, path_parameters=real) for mode in modes
        ]
    return st.one_of(choices)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_within_its_schema_and_never_5xx(
    fuzz: Fuzz, method: str, path: str, request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_5XX.get((method, path))
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
    headers = fuzz.key_headers if (method, path) in WITH_API_KEY else fuzz.session_headers
    strategy = _strategies(fuzz, method, path)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def answers_well(case: schemathesis.Case[Any]) -> None:
        response = fuzz.send(case, headers)
        case.validate_response(response, checks=CHECKS)

    if SEED is not None:
        seed(int(SEED))(answers_well)
    answers_well()
