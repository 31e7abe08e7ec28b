"""Every error is RFC 9457 problem+json, and ``GET /problems`` documents the tree."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.exceptions import HTTPException as StarletteHTTPException
from structlog.testing import capture_logs

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
    catalogue = response.json()["data"]
    served = {p["code"]: (p["status"], p["parent"]) for p in catalogue}
    assert len(served) == len(catalogue), "a problem type is listed twice"
    expected = documented_tree()
    core_codes = {c.code for c in errors.error_classes() if c.__module__ == errors.__name__}
    assert set(expected) == core_codes, "the docstring tree and the classes disagree"
    assert {code: served.get(code) for code in expected} == expected
    # A parent is a more general type of the same status class: a rate limit is not a
    # kind of internal error, and a scope missing is a kind of permission denied.
    for code, (status, parent) in served.items():
        if parent is not None:
            assert parent in served, code
            assert served[parent][0] // 100 == status // 100, (code, parent)
    assert served["rate-limited"][1] is None
    assert served["scope-missing"][1] == "permission-denied"
    assert served["invalid-credentials"][1] == "authentication-required"
    for problem in catalogue:
        assert problem["type"] == f"/problems/{problem['code']}"
        assert problem["title"]
        # A description of its own, not its parent's or an empty one.
        assert len(problem["description"]) > 20, problem
    descriptions = [p["description"] for p in catalogue]
    assert len(set(descriptions)) == len(descriptions), "two types share a description"


async def test_one_problem_type_and_an_unknown_one(client: httpx.AsyncClient) -> None:
    found = await client.get("/problems/rate-limited")
    assert found.status_code == 200
    assert found.json()["status"] == 429
    assert found.json()["parent"] is None
    assert "Retry-After" in found.json()["description"]

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
    page = await client.get("/problems/method-not-allowed")
    assert page.status_code == 200, page.text
    assert page.json()["status"] == 405


async def test_every_type_the_http_layer_answers_has_a_page(settings: Settings) -> None:
    """Statuses raised as HTTP errors (by routing, body parsing or a route) are
    served as problem types the catalogue documents, whatever the status."""
    async with running_app(settings) as app:

        @app.get("/test/http/{status_code}")
        async def http_error(status_code: int) -> None:
            raise StarletteHTTPException(status_code, "told to")

        async with client_for(app) as client:
            catalogue = {p["code"]: p for p in (await client.get("/problems")).json()["data"]}
            for status_code in (400, 401, 403, 404, 405, 406, 409, 413, 415, 418, 422, 429, 503):
                response = await client.get(f"/test/http/{status_code}")
                assert response.status_code == status_code
                body = response.json()
                code = body["type"].removeprefix("/problems/")
                assert code in catalogue, body
                if code != "http-error":
                    assert catalogue[code]["status"] == status_code, body
                page = await client.get(body["type"])
                assert page.status_code == 200, (body, page.text)
            teapot = (await client.get("/test/http/418")).json()
    assert (teapot["type"], teapot["status"]) == ("/problems/http-error", 418)


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


async def test_a_missing_body_points_at_the_whole_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/login", headers={"Content-Type": "application/json"})

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [
        {
            "loc": ["body"],
            "pointer": "",
            "field": "",
            "message": "Field required",
            "type": "missing",
        }
    ]


async def test_malformed_json_is_a_400_that_names_no_field(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/v1/auth/login",
        content=b'{"email": "a@b.example",\n "password": oops}',
        headers={"Content-Type": "application/json"},
    )

    body = assert_problem(broken, 400, "invalid-request")
    assert body["detail"] == "The body is not valid JSON: Expecting value (line 2, column 14)"
    assert "errors" not in body
    assert "field" not in body


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"email=a%40b.example&password=x"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\na@b.example\r\n--b--\r\n',
        ),
        ("text/plain", b'{"email": "a@b.example", "password": "x"}'),
        (None, b'{"email": "a@b.example", "password": "x"}'),
    ],
)
async def test_bodies_that_are_not_json_are_a_415_problem(
    client: httpx.AsyncClient, content_type: str | None, content: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = await client.post("/v1/auth/login", content=content, headers=headers)

    body = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in str(body["detail"])
    assert body["accepted"] == ["application/json"]
    # JSON with a structured-syntax suffix and parameters is JSON.
    fine = await client.post(
        "/v1/auth/login",
        content=b'{"email": "a@b.example", "password": "x"}',
        headers={"Content-Type": "application/merge-patch+json; charset=utf-8"},
    )
    assert_problem(fine, 401, "invalid-credentials")


async def test_unhandled_exception_is_a_500_problem_without_details(settings: Settings) -> None:
    async with running_app(settings) as app:

        @app.get("/test/crash")
        async def crash() -> None:
            raise RuntimeError("secret connection string postgres://admin:hunter2@db")

        # The default transport re-raises what escapes the application: the error must
        # not, or the server would log it a second time.
        async with client_for(app) as client:
            with capture_logs() as logged:
                response = await client.get("/test/crash")
            after = await client.get("/healthz")

    body = assert_problem(response, 500, "internal-error")
    assert body["instance"] == "/test/crash"
    assert response.headers["X-Request-Id"]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert after.status_code == 200
    errors_logged = [entry for entry in logged if entry["log_level"] in ("error", "critical")]
    assert len(errors_logged) == 1, logged
    [entry] = errors_logged
    assert entry["event"] == "unhandled error"
    assert entry["path"] == "/test/crash"
    assert isinstance(entry["exc_info"], RuntimeError)


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
