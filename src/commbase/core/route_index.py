"""Route matching that skips, by a path prefix, routers that cannot match.

FastAPI matches a request against the application's included routers in order,
and each router tries its routes one by one (a regular expression and some scope
bookkeeping per route): about 400 routes here, so a request for a route near the
end (the dashboard) spent over a millisecond of CPU in matching, and ``GET /v1/me``
(13th router) a tenth of that. A route's pattern is anchored at the start of the
path and begins with its path's literal text up to the first ``{parameter}``, so a
router whose routes' literal prefixes are all absent from the request's path
cannot match it: :func:`skip_unmatchable_routers` gives each top-level router a
``matches`` that answers "no match" at once for such a path (one
``str.startswith``) and asks the router otherwise. Which route serves a request
does not change (``tests/core/test_route_index.py`` checks every route).

A router whose routes' paths cannot be read (a ``Host`` route, an unknown kind) is
left as it is. It runs once every router is included (``create_app``): a route
added later to a router already included would not be seen (routes added to the
application itself are matched as before).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.types import Scope

try:  # the path routes match against (without the mount's root path)
    from starlette._utils import get_route_path
except ImportError:  # pragma: no cover - older Starlette

    def get_route_path(scope: Scope) -> str:
        return str(scope["path"])


def _literal(path: str) -> str:
    """The text every path the pattern of ``path`` matches begins with."""
    return path.split("{", 1)[0]


_WITH_PATH = (APIRoute, APIWebSocketRoute, Route, WebSocketRoute, Mount)


def _paths(routes: Iterable[Any], prefix: str) -> Iterator[str | None]:
    """The full path of every route in ``routes`` (nested included routers too) under
    ``prefix``; None for a route whose path cannot be read."""
    for route in routes:
        original = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if original is not None and context is not None:
            inner = [*original.routes, *getattr(original, "_low_priority_routes", ())]
            yield from _paths(inner, prefix + context.prefix)
        elif isinstance(route, _WITH_PATH):
            yield prefix + route.path
        else:
            yield None


def literal_prefixes(route: Any) -> tuple[str, ...] | None:
    """The literal prefixes of every route an included router holds (nested ones
    too), or None when they cannot all be read.

    Read from the routers' own routes and include prefixes, not from FastAPI's
    effective route contexts: building those analyses every endpoint's dependencies
    and models (0.3-0.7 s for all ~400 routes), which FastAPI otherwise does lazily,
    router by router, when a request first reaches one.
    """
    original = getattr(route, "original_router", None)
    context = getattr(route, "include_context", None)
    if original is None or context is None:
        return None
    found: set[str] = set()
    for path in _paths([route], ""):
        if path is None:
            return None
        found.add(_literal(path))
    # A prefix that another one starts with adds nothing to the test.
    kept = [p for p in found if not any(p != q and p.startswith(q) for q in found)]
    return tuple(sorted(kept))


def skip_unmatchable_routers(app: FastAPI) -> int:
    """Give each top-level included router a prefix test before its own matching;
    how many routers got one."""
    guarded = 0
    for route in app.router.routes:
        prefixes = literal_prefixes(route)
        if not prefixes or "" in prefixes:
            continue
        # The instance's own ``matches`` stands before the class's method.
        setattr(route, "matches", _guarded(route.matches, prefixes))  # noqa: B010
        guarded += 1
    return guarded


def _guarded(
    matches: Callable[[Scope], tuple[Match, Scope]], prefixes: tuple[str, ...]
) -> Callable[[Scope], tuple[Match, Scope]]:
    def guarded_matches(scope: Scope) -> tuple[Match, Scope]:
        if get_route_path(scope).startswith(prefixes):
            return matches(scope)
        return Match.NONE, {}

    return guarded_matches
