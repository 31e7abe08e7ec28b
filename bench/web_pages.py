"""Server time and weight of each dashboard page on the demo data.

    .venv/bin/python bench/web_pages.py [--repeat 20] [--range 30d] [--no-rollup]
    .venv/bin/python bench/web_pages.py --first-view [--profile DIR] [--show-compiled]
    .venv/bin/python bench/web_pages.py ... [--timezone Asia/Kolkata]

A fresh SQLite database in a temporary folder is migrated and loaded with the demo
organization (``commbase demo``: a month of calls, charges and top-ups), the
analytics rollup runs once (as the scheduler would have; ``--no-rollup`` leaves
every figure to the raw tables), then the application a serving process runs
(``create_served_app``: its start-up warm-up done) answers each page ``--repeat``
times in process (``httpx.ASGITransport``: no network, so the time is the server's:
the page, the ``/v1`` read routes' functions it calls, templates), each page with a
login session of its own (a view counts once against the session's rate limit).
The first request of each page is reported apart (cold: the analytics cache has no
entry for it yet, its SQL statements are compiled for the first time, and the first
page of the process also pays what start-up left: first connections); the median and
p95 are of the rest, which the analytics cache
answers while the data does not change (a range reaching the present ends at the
next whole minute, so requests within a minute ask the same range), as it does for
a dashboard left open. ``--no-cache`` gives every request new data to read (a
top-up is recorded before each), the worst case of a busy organization.

Prints one JSON line per page: cold ms (wall clock and CPU), median and p95 ms (wall
clock), the median CPU ms of the process per request (threads included: on a shared, loaded machine
the wall clock mostly measures waiting for a core), HTML bytes (raw and gzip), and
once the static assets' bytes (raw and gzip).

``--first-view``: each page's first view in a process of its own, as after a restart:
for each page a fresh Python process builds the served application, runs its
start-up (lifespan: the warm-up of :mod:`commbase.warmup` included, unless
``COMMBASE_WARMUP=false``), signs in and asks for the page once. Prints per page the
view's server time (wall and CPU ms), how many SQL statements the view compiled (not
found in SQLAlchemy's compiled caches), and the process's start-up
(``create_served_app`` and lifespan start-up, wall ms) apart. ``--profile DIR``
writes each view's cProfile to ``DIR/<page>.prof``; ``--show-compiled`` prints
(stderr) the statements it compiled.

``--timezone ZONE`` sets the demo organization's time zone (UTC by default) before
anything is measured: the pages are then read in that zone (a half-hour zone's day
edges read quarter-hour rollups: other statements than a whole-hour zone's).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import CacheStats

from bench._common import percentile
from commbase.app import create_served_app
from commbase.cli import migrate_database
from commbase.core import jobs
from commbase.core.db import Database
from commbase.demo.organization import load_demo
from commbase.identity.models import Organization
from commbase.settings import Settings
from commbase.web.pages import PAGES
from commbase.web.routes import STATIC_FILES

SECRET = "bench-secret-key-that-is-long-enough-for-production-0123456789"  # noqa: S105


async def prepare(url: str, *, rollup: bool, timezone: str) -> None:
    database = Database(url)
    try:
        await load_demo(database, secret=SECRET)
        async with database.sessionmaker() as session:
            await session.execute(update(Organization).values(timezone=timezone))
            await session.commit()
        if rollup:
            await jobs.run_job(database, jobs.get_job("analytics.rollup"), trigger="manual")
    finally:
        await database.dispose()


async def measure(url: str, *, repeat: int, range_: str, fresh_data: bool) -> None:
    app = create_served_app(_settings(url))
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for slug in PAGES:
                # A session per page: each view counts once against the session's rate
                # limit (600 a minute by default).
                login = await http.post(
                    "/v1/auth/login",
                    json={"email": "owner@acme.example", "password": "commbase-demo"},
                )
                login.raise_for_status()
                token = login.json()["token"]
                page_headers = {"Cookie": f"cb_dash={token}"}
                api_headers = {"Authorization": f"Bearer {token}"}
                timings = []
                cpu = []
                size = 0
                html = b""
                for _ in range(repeat + 1):
                    if fresh_data:
                        await _touch(http, api_headers)
                    started = time.perf_counter()
                    cpu_started = time.process_time()
                    answer = await http.get(
                        f"/dashboard/{slug}", params={"range": range_}, headers=page_headers
                    )
                    timings.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - cpu_started) * 1000)
                    assert answer.status_code == 200, (slug, answer.status_code)
                    html = answer.content
                    size = len(html)
                warm = sorted(timings[1:])
                print(
                    json.dumps(
                        {
                            "page": slug,
                            "range": range_,
                            "cold_ms": round(timings[0], 1),
                            "cold_cpu_ms": round(cpu[0], 1),
                            "median_ms": round(statistics.median(warm), 1),
                            "p95_ms": round(percentile(warm, 0.95) or 0.0, 1),
                            "cpu_median_ms": round(statistics.median(cpu[1:]), 1),
                            "html_bytes": size,
                            "html_gzip_bytes": len(gzip.compress(html)),
                        }
                    )
                )
            assets = {}
            for name in STATIC_FILES:
                body = (await http.get(f"/dashboard/static/{name}")).content
                assets[name] = {"bytes": len(body), "gzip_bytes": len(gzip.compress(body))}
            print(json.dumps({"static": assets}))


async def _touch(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """New facts, so the analytics cache (keyed by the data's version) cannot answer."""
    wallets = (await http.get("/v1/wallets", headers=headers)).json()["data"]
    response = await http.post(
        f"/v1/wallets/{wallets[0]['id']}/topups", json={"amount": 100}, headers=headers
    )
    response.raise_for_status()  # a refused top-up would leave the cache answering


async def view_once(
    url: str, slug: str, *, range_: str, profile: str | None, show_compiled: bool
) -> None:
    """One page's first view in this (fresh) process, after the served app's start-up."""
    started = time.perf_counter()
    app = create_served_app(_settings(url))
    async with LifespanManager(app, startup_timeout=60):
        startup_ms = (time.perf_counter() - started) * 1000
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/v1/auth/login",
                json={"email": "owner@acme.example", "password": "commbase-demo"},
            )
            login.raise_for_status()
            headers = {"Cookie": f"cb_dash={login.json()['token']}"}
            compiled: list[str] = []

            def count(
                _c: object, _cu: object, statement: str, _p: object, context: object, _m: bool
            ) -> None:
                if getattr(context, "cache_hit", None) is CacheStats.CACHE_MISS:
                    compiled.append(statement)

            event.listen(Engine, "before_cursor_execute", count)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            cpu_started = time.process_time()
            if profiler is not None:
                profiler.enable()
            answer = await http.get(f"/dashboard/{slug}", params={"range": range_}, headers=headers)
            if profiler is not None:
                profiler.disable()
            event.remove(Engine, "before_cursor_execute", count)
            wall_ms = (time.perf_counter() - started) * 1000
            cpu_ms = (time.process_time() - cpu_started) * 1000
            assert answer.status_code == 200, (slug, answer.status_code)
            if profiler is not None and profile:
                profiler.dump_stats(str(Path(profile) / f"{slug}.prof"))
            if show_compiled:
                for statement in compiled:
                    print(f"compiled: {' '.join(statement.split())[:1200]}", file=sys.stderr)
    print(
        json.dumps(
            {
                "page": slug,
                "range": range_,
                "first_view_ms": round(wall_ms, 1),
                "first_view_cpu_ms": round(cpu_ms, 1),
                "startup_ms": round(startup_ms, 1),
                # of which the lifespan's warm-up of the pages' reads (commbase.warmup)
                "warmup_reads_ms": getattr(app.state, "warmup_ms", None),
                # SQL statements this view compiled (not in the engines' compiled caches)
                "statements_compiled": len(compiled),
                "warmup": getattr(app.state, "warmup", "off"),
                "html_bytes": len(answer.content),
            }
        ),
        flush=True,
    )


def first_views(url: str, *, range_: str, profile: str | None, show_compiled: bool) -> None:
    """Each page's first view, each in a fresh process (``--view-once``)."""
    for slug in PAGES:
        command = [sys.executable, __file__, "--view-once", slug, "--database", url]
        command += ["--range", range_] + (["--profile", profile] if profile else [])
        command += ["--show-compiled"] if show_compiled else []
        subprocess.run(command, check=True)


def _settings(url: str) -> Settings:
    return Settings(
        env="development",
        database_url=url,
        secret_key=SECRET,
        run_jobs=False,
        log_level="WARNING",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--range", default="30d", dest="range_")
    parser.add_argument("--no-rollup", action="store_true")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--first-view", action="store_true")
    parser.add_argument("--profile", default=None, metavar="DIR")
    parser.add_argument("--show-compiled", action="store_true")
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--view-once", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--database", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.view_once:
        asyncio.run(
            view_once(
                args.database,
                args.view_once,
                range_=args.range_,
                profile=args.profile,
                show_compiled=args.show_compiled,
            )
        )
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        migrate_database(url)
        asyncio.run(prepare(url, rollup=not args.no_rollup, timezone=args.timezone))
        if args.first_view:
            first_views(
                url, range_=args.range_, profile=args.profile, show_compiled=args.show_compiled
            )
            return
        asyncio.run(measure(url, repeat=args.repeat, range_=args.range_, fresh_data=args.no_cache))


if __name__ == "__main__":
    main()
