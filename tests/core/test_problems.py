"""Every error is RFC 9457 problem+json, and ``GET /problems`` documents the tree."""

from __future__ import annotations

import re

import httpx

from commbase.core import errors
from commbase.settings import Settings
from tests.conftest import client_for
from tests.core.conftest import assert_problem, running_app

_TREE_LINE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)\s+(?P<status>\d{3}) (?P<code>[a-z-]+)"
)


def documented_tree() -> dict[str, tuple[int, str | None]]:
    """code -> (status, parent code), as drawn in the ``core/errors.py`` docstring."""
    tree: dict[str, tuple[int, str | None]] = {}
    parents: list[tuple[int, str]] = []  # (depth, code) of the open branches
    for line in (errors.__doc__ or "").splitlines():
        found = _TREE_LINE.match(line)
        if not found:
            continue
        depth = len(found["indent"])
        while parents and parents[-1][0] >= depth:
            parents.pop()
        tree[found["code"]] = (int(found["status"]), parents[-1][1] if parents else None)
        parents.append((depth, found["code"]))
    return tree


async def test_problem_catalogue_lists_the_documented_tree(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems")

    assert response.status_code == 200
    catalogue = response.json()
    served = {p["code"]: (p["status"], p["parent"]) for p in catalogue}
    assert len(served) == len(catalogue), "a problem type is listed twice"
    expected = documented_tree()
    core_codes = {c.code for c in errors.error_classes() if c.__module__ == errors.__name__}
    assert set(expected) == core_codes, "the docstring tree and the classes disagree"
    assert {code: served.get(code) for code in expected} == expected
    # Types a domain adds hang off the documented tree.
    for code, (_, parent) in served.items():
        assert code == "internal-error" or parent in served, code
    for problem in catalogue:
        assert problem["type"] == f"/problems/{problem['code']}"
        assert problem["title"]


async def test_one_problem_type_and_an_unknown_one(client: httpx.AsyncClient) -> None:
    found = await client.get("/problems/rate-limited")
    assert found.status_code == 200
    assert found.json()["status"] == 429
    assert found.json()["parent"] == "internal-error"

    body = assert_problem(await client.get("/problems/no-such-thing"), 404, "not-found")
    assert "no-such-thing" in str(body["detail"])


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    body = assert_problem(response, 404, "not-found")
    assert body["instance"] == "/v1/nothing-here"
    assert response.headers["X-Request-Id"]


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")

    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["Allow"] == "GET"


async def test_missing_credentials_is_a_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me")

    assert_problem(response, 401, "authentication-required")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="commbase"'


async def test_field_errors_point_at_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/login", json={"email": "a@b.example", "password": ""})

    body = assert_problem(response, 422, "validation-failed")
    errors_ = body["errors"]
    assert isinstance(errors_, list)
    [error] = errors_
    assert error["pointer"] == "/password"
    assert error["field"] == "password"
    assert error["loc"] == ["body", "password"]

    broken = await client.post(
        "/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert assert_problem(broken, 422, "validation-failed")["detail"] == "Body is not valid JSON"


async def test_unhandled_exception_is_a_500_problem_without_details(settings: Settings) -> None:
    async with running_app(settings) as app:

        @app.get("/test/crash")
        async def crash() -> None:
            raise RuntimeError("secret connection string postgres://admin:hunter2@db")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/test/crash")
            after = await client.get("/healthz")

    body = assert_problem(response, 500, "internal-error")
    assert body["instance"] == "/test/crash"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert after.status_code == 200


async def test_service_errors_map_to_their_status(settings: Settings) -> None:
    async with running_app(settings) as app:

        @app.get("/test/raise/{code}")
        async def raise_error(code: str) -> None:
            for cls in errors.error_classes():
                if cls.code == code:
                    raise cls("told to", field="x")

        async with client_for(app) as client:
            for cls in errors.error_classes():
                response = await client.get(f"/test/raise/{cls.code}")
                body = assert_problem(response, cls.status, cls.code)
                assert body["title"] == cls.title
                assert body["detail"] == "told to"
                assert body["field"] == "x"
