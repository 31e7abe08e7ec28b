"""Routers passed over by a path prefix (``core.route_index``) match exactly as before."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from starlette.routing import Match

from commbase.app import create_app
from commbase.core.route_index import literal_prefixes, skip_unmatchable_routers
from tests.conftest import make_settings


def _concrete(path: str) -> str:
    """A path the template ``path`` matches: every parameter filled in."""
    return re.sub(r"\{[^}]*\}", "x1", path)


def _sample_paths(app: FastAPI) -> set[str]:
    paths = {"/", "/nope", "/v1", "/v1/", "/v1/nope", "/dashboard/", "/v1/me/", "/v1/x1/x1"}
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for context in contexts() if contexts else [route]:
            path = getattr(context, "path", "") or getattr(
                getattr(context, "starlette_route", None), "path", ""
            )
            if path:
                concrete = _concrete(path)
                paths |= {concrete, concrete + "/", concrete.rstrip("/") + "/x1"}
    return paths


def _scope(path: str, method: str, kind: str = "http", root_path: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }


def test_every_router_matches_every_path_as_it_did(tmp_path: Any) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", None))
    guarded = [r for r in app.router.routes if "matches" in vars(r)]
    assert len(guarded) > 50  # nearly every router: all of commbase's have readable paths

    compared = 0
    for path in _sample_paths(app):
        for method, kind, root in (
            ("GET", "http", ""),
            ("POST", "http", ""),
            ("DELETE", "http", ""),
            ("GET", "websocket", ""),
            ("GET", "http", "/behind-a-proxy"),
        ):
            scope = _scope(path, method, kind, root)
            for route in guarded:
                fast = route.matches(dict(scope))
                full = type(route).matches(route, dict(scope))
                assert fast[0] == full[0], (path, method, kind, root, route)
                compared += fast[0] != Match.NONE
    assert compared > 400  # the samples did reach the routes


def test_a_router_with_a_parameter_first_is_never_passed_over() -> None:
    app = FastAPI()
    anything = APIRouter()

    @anything.get("/{page}")
    async def page(page: str) -> dict[str, str]:
        return {"page": page}

    app.include_router(anything)

    assert literal_prefixes(app.router.routes[-1]) == ("/",)
    assert skip_unmatchable_routers(app) == 1  # "/" is a prefix of every path


async def test_requests_reach_the_routes_they_reached_before() -> None:
    app = FastAPI()
    users, orders = APIRouter(prefix="/v1/users"), APIRouter(prefix="/v1/orders")

    @users.get("/{user_id}")
    async def user(user_id: str) -> dict[str, str]:
        return {"user": user_id}

    @orders.get("")
    async def order_list() -> dict[str, str]:
        return {"orders": "all"}

    @orders.post("/{order_id}/cancel")
    async def cancel(order_id: str) -> dict[str, str]:
        return {"cancelled": order_id}

    app.include_router(users)
    app.include_router(orders)
    assert skip_unmatchable_routers(app) == 2

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/v1/users/u1")).json() == {"user": "u1"}
        assert (await client.get("/v1/orders")).json() == {"orders": "all"}
        assert (await client.post("/v1/orders/o1/cancel")).json() == {"cancelled": "o1"}
        assert (await client.get("/v1/orders/o1/cancel")).status_code == 405
        assert (await client.get("/v1/nothing")).status_code == 404
