"""What a serving process does at start-up so its first requests do not: the first
page of a fresh process paid ~1.5 s of CPU for it before (``bench/web_pages.py``).

- FastAPI (0.16x) builds each route's dependency tree, parameter models and response
  field lazily, when a request first walks past the route: the first request of a
  process paid for every route matched before its own, ~1 s of CPU on this app's
  ~390 routes (the dashboard's are mounted last). Asking for the URL of a route that
  does not exist walks them all.
- Jinja compiles a template to Python on its first render (~50-100 ms a page).
- The analytics metric registry imports its declarations on first use.
- SQLAlchemy compiles each SQL statement on its first run (per engine, by shape): a
  dashboard page's first view compiled a few dozen (100-200 ms of CPU). The lifespan's
  start-up runs every page's reads once (:mod:`commbase.web.warmup`: in UTC and in
  one zone of each other offset kind the organizations use), bounded by
  ``COMMBASE_WARMUP_TIMEOUT_S``; a failure or timeout is logged, shown by ``/readyz``
  (``checks.warmup``, status ``degraded``) and the process serves anyway.

``COMMBASE_WARMUP=false`` skips all of it (the first requests pay instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from jinja2 import Environment
from starlette.routing import NoMatchFound

from commbase.analytics import registry
from commbase.web.warmup import warm_up_pages

log = structlog.get_logger("commbase.warmup")

_NO_ROUTE = "commbase-warm-up-no-such-route"


def warm_up(app: FastAPI, *templates: Environment) -> None:
    """Build every route of ``app``, compile every template of ``templates`` and load
    the metric registry now."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for(_NO_ROUTE)
    for environment in templates:
        for name in environment.list_templates():
            environment.get_template(name)
    for key in registry.registered_sources():
        registry.declared_signature(key)


def warm_up_served(app: FastAPI, *templates: Environment) -> None:
    """A serving process's warm-up: :func:`warm_up` now and :func:`warm_up_reads` in
    its lifespan start-up, unless ``COMMBASE_WARMUP=false``."""
    settings = app.state.settings
    if settings.warmup:
        warm_up(app, *templates)
        warm_up_reads_at_startup(app, timeout_s=settings.warmup_timeout_s)


def warm_up_reads_at_startup(app: FastAPI, *, timeout_s: float) -> None:
    """Run :func:`warm_up_reads` in ``app``'s lifespan start-up, after its own."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            await warm_up_reads(application, timeout_s=timeout_s)
            yield state

    app.router.lifespan_context = lifespan


async def warm_up_reads(app: FastAPI, *, timeout_s: float) -> None:
    """Every dashboard page's reads once (their SQL compiled), at most ``timeout_s``;
    ``app.state.warmup`` says how it went (``ok`` or ``error: <type>``), ``warmup_ms``
    how long it took."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            failed = await warm_up_pages(app)
    except Exception as exc:  # a slow first view is better than a process that won't start
        app.state.warmup = f"error: {type(exc).__name__}"
        log.warning("warm-up stopped", error=repr(exc), timeout_s=timeout_s)
    else:
        app.state.warmup = f"error: pages {', '.join(failed)} failed" if failed else "ok"
        log.info("warm-up done", failed=failed, ms=round((time.perf_counter() - started) * 1000))
    app.state.warmup_ms = round((time.perf_counter() - started) * 1000)
    # What it built lives as long as the process: out of the collector's way too.
    gc.collect()
    gc.freeze()
