"""Authenticated ``GET /v1/me`` against a real uvicorn server, beside ``/healthz``.

    .venv/bin/python bench/auth.py [--concurrency 16] [--duration 12] [--requests 40000]
                                   [--database-url URL] [--redis-url URL]
                                   [--driver wrk|httpx] [--writers 0] [--run-jobs]

A fresh SQLite database in a temporary directory (or ``--database-url``, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench``, which must exist) is
migrated and loaded with the demo data; ``commbase serve`` is started on
127.0.0.1 with rate limits out of the way, and this process drives load with an
async httpx client at a fixed concurrency. The two endpoints are measured in
alternating rounds in the same run, so background noise hits both alike.

Key verification cost comes from the server's own Prometheus histograms,
scraped around each ``/v1/me`` round: mean ``commbase_auth_duration_seconds``
(token -> principal: checksum, HMAC, cache or database) over mean
``commbase_http_request_duration_seconds{route="/v1/me"}``. The target is an
``auth_share`` under 0.10.

With ``--driver wrk`` (the default when ``wrk`` is installed) the load comes from
``wrk`` instead, and a bare FastAPI + SQLAlchemy app doing the same two reads
(``bench/_bare_me.py``, one uvicorn process like commbase's) is served beside
commbase on the same database: the rounds alternate bare, commbase, and
``me_over_bare`` is commbase's ``/v1/me`` requests/s over the bare app's.
``--writers N`` keeps N clients creating contacts through commbase's API during
the timed rounds (a mixed load: on SQLite, reads must not queue behind them);
their rate is under ``writes``. ``bare_cpu_ms_per_request`` and
``me_cpu_ms_per_request`` are each server process's CPU over its rounds per request
served, and ``me_over_bare_cpu`` their ratio (bare over commbase): less disturbed
by the machine's load than requests/s.

The commbase server runs as an API process of the production layout
(``COMMBASE_RUN_JOBS=false``, the background loops in ``commbase worker``
processes), as the bare app runs nothing beside its route; ``--run-jobs`` serves
with the loops in process (an idle such process used 0.14 CPU s/s here, charged
to ``/v1/me``'s CPU and taken from its share of the cores).

Prints one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _wrk
from bench._common import (
    commbase_command,
    free_port,
    migrate_and_demo,
    ms,
    percentile,
    server_env,
    stop_process,
    wait_until_up,
)

HOST = "127.0.0.1"
AUTH_METRIC = "commbase_auth_duration_seconds"
HTTP_METRIC = "commbase_http_request_duration_seconds"
CACHE_METRIC = "commbase_cache_requests"  # a counter: samples end in _total
ME_ROUTE = "/v1/me"
STARTUP_TIMEOUT_S = 180.0

MetricKey = tuple[str, frozenset[tuple[str, str]]]


# ------------------------------------------------------------------ server


# ------------------------------------------------------------------ metrics


async def _scrape(client: httpx.AsyncClient) -> dict[MetricKey, float]:
    response = await client.get("/metrics")
    response.raise_for_status()
    samples: dict[MetricKey, float] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name not in (AUTH_METRIC, HTTP_METRIC, CACHE_METRIC):
            continue
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _total(samples: Mapping[MetricKey, float], name: str, **labels: str) -> float:
    """Sum every sample called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


@dataclass
class ServerTotals:
    auth_sum: float = 0.0
    auth_count: float = 0.0
    me_sum: float = 0.0
    me_count: float = 0.0
    cache_hits: float = 0.0
    cache_misses: float = 0.0
    auth_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    me_buckets: dict[float, float] = field(default_factory=dict)

    def add(self, before: Mapping[MetricKey, float], after: Mapping[MetricKey, float]) -> None:
        def delta(name: str, **labels: str) -> float:
            return _total(after, name, **labels) - _total(before, name, **labels)

        self.auth_sum += delta(f"{AUTH_METRIC}_sum", kind="api_key")
        self.auth_count += delta(f"{AUTH_METRIC}_count", kind="api_key")
        self.me_sum += delta(f"{HTTP_METRIC}_sum", method="GET", route=ME_ROUTE)
        self.me_count += delta(f"{HTTP_METRIC}_count", method="GET", route=ME_ROUTE)
        self.cache_hits += delta(f"{CACHE_METRIC}_total", result="hit")
        self.cache_misses += delta(f"{CACHE_METRIC}_total", result="miss")
        for le in _bucket_bounds(after, f"{AUTH_METRIC}_bucket"):
            change = delta(f"{AUTH_METRIC}_bucket", kind="api_key", le=le)
            self.auth_buckets[float(le)] = self.auth_buckets.get(float(le), 0.0) + change
        for le in _bucket_bounds(after, f"{HTTP_METRIC}_bucket"):
            change = delta(f"{HTTP_METRIC}_bucket", method="GET", route=ME_ROUTE, le=le)
            self.me_buckets[float(le)] = self.me_buckets.get(float(le), 0.0) + change


def _bucket_bounds(samples: Mapping[MetricKey, float], name: str) -> set[str]:
    return {dict(labels)["le"] for sample, labels in samples if sample == name}


def _histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus-style estimate: linear interpolation inside the bucket holding ``q``."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return None


# ------------------------------------------------------------------ load


@dataclass
class Phase:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        count = len(ordered)
        return {
            "requests": count,
            "errors": self.errors,
            "rps": round(count / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "p50_ms": ms(percentile(ordered, 0.50)),
            "p99_ms": ms(percentile(ordered, 0.99)),
            "mean_ms": ms(sum(ordered) / count if count else None),
            **({"statuses": self.statuses} if self.errors else {}),
        }


def _us(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e6, 1)


async def _drive(
    client: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str],
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    into: Phase | None,
) -> None:
    """``concurrency`` workers send ``GET path`` until the time or the count runs out."""
    deadline = time.perf_counter() + duration_s
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            elapsed = time.perf_counter() - started
            if into is None:
                continue
            into.latencies_s.append(elapsed)
            if not 200 <= status < 300:
                into.errors += 1
                into.statuses[status] = into.statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if into is not None:
        into.elapsed_s += time.perf_counter() - started


async def _bench(
    args: argparse.Namespace,
    *,
    base_url: str,
    api_key: str,
    server: subprocess.Popen[bytes],
    log_path: Path,
) -> dict[str, Any]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    timeout = httpx.Timeout(30.0)
    healthz, me, totals = Phase(), Phase(), ServerTotals()
    auth = {"Authorization": f"Bearer {api_key}"}
    anonymous: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await wait_until_up(client, server, log_path=log_path, timeout_s=STARTUP_TIMEOUT_S)
        probe = await client.get(ME_ROUTE, headers=auth)
        if probe.status_code != 200:
            raise SystemExit(f"GET {ME_ROUTE} with the demo key: {probe.status_code} {probe.text}")

        per_round_s = args.duration / args.rounds
        per_round_n = max(1, args.requests // args.rounds)
        common = {"concurrency": args.concurrency}
        for path, headers in (("/healthz", anonymous), (ME_ROUTE, auth)):
            await _drive(
                client,
                path,
                headers,
                duration_s=args.warmup,
                max_requests=args.requests,
                into=None,
                **common,
            )
        for _ in range(args.rounds):
            await _drive(
                client,
                "/healthz",
                anonymous,
                duration_s=per_round_s,
                max_requests=per_round_n,
                into=healthz,
                **common,
            )
            before = await _scrape(client)
            await _drive(
                client,
                ME_ROUTE,
                auth,
                duration_s=per_round_s,
                max_requests=per_round_n,
                into=me,
                **common,
            )
            totals.add(before, await _scrape(client))

    auth_mean = totals.auth_sum / totals.auth_count if totals.auth_count else None
    me_mean = totals.me_sum / totals.me_count if totals.me_count else None
    me_p50 = _histogram_quantile(0.50, totals.me_buckets)
    lookups = totals.cache_hits + totals.cache_misses
    return {
        "healthz": healthz.figures(),
        "me": me.figures(),
        "auth_mean_us": _us(auth_mean),
        "auth_p99_us_est": _us(_histogram_quantile(0.99, totals.auth_buckets)),
        "me_server_mean_ms": ms(me_mean),
        "me_server_p50_ms_est": ms(me_p50),
        "auth_share": round(auth_mean / me_mean, 4) if auth_mean and me_mean else None,
        "auth_share_of_p50": round(auth_mean / me_p50, 4) if auth_mean and me_p50 else None,
        "auth_cache_hit_ratio": round(totals.cache_hits / lookups, 4) if lookups else None,
        "auth_samples": int(totals.auth_count),
    }


async def _writer_loop(
    client: httpx.AsyncClient, headers: Mapping[str, str], stop: asyncio.Event, into: Phase
) -> None:
    """Create contacts one after the other until ``stop``: a steady stream of writes."""
    n = 0
    while not stop.is_set():
        n += 1
        started = time.perf_counter()
        try:
            response = await client.post(
                "/v1/contacts", json={"name": f"Writer {id(into)} {n}"}, headers=headers
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        into.latencies_s.append(time.perf_counter() - started)
        if not 200 <= status < 300:
            into.errors += 1
            into.statuses[status] = into.statuses.get(status, 0) + 1


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_figures(cpu: dict[str, float], bare_requests: int, me_requests: int) -> dict[str, Any]:
    """Server CPU per request of each stack and their ratio (bare / me: the share of
    the bare stack's throughput one core would give ``/v1/me``), which the machine's
    load disturbs less than requests/s. With ``--writers`` the commbase server's CPU
    includes their writes."""
    bare = cpu["bare"] * 1000 / bare_requests if bare_requests else None
    me_ = cpu["me"] * 1000 / me_requests if me_requests else None
    return {
        "bare_cpu_ms_per_request": round(bare, 3) if bare is not None else None,
        "me_cpu_ms_per_request": round(me_, 3) if me_ is not None else None,
        "me_over_bare_cpu": round(bare / me_, 3) if bare and me_ else None,
    }


def _start_bare(
    database_url: str, *, org_id: str, user_id: str, port: int, log: Any
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BARE_DATABASE_URL": database_url,
        "BARE_ORG_ID": org_id,
        "BARE_USER_ID": user_id,
    }
    command = [sys.executable, "-m", "uvicorn", "bench._bare_me:app", "--host", HOST]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)


async def _bench_wrk(
    args: argparse.Namespace,
    *,
    base_url: str,
    api_key: str,
    server: subprocess.Popen[bytes],
    log_path: Path,
    database_url: str,
) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key}"}
    totals = ServerTotals()
    bare_rounds, me_rounds, writes = _wrk.Rounds(), _wrk.Rounds(), Phase()
    cpu = {"bare": 0.0, "me": 0.0}  # each server process's CPU seconds over its rounds
    limits = httpx.Limits(max_connections=max(4, args.writers + 2))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        await wait_until_up(client, server, log_path=log_path, timeout_s=STARTUP_TIMEOUT_S)
        probe = await client.get(ME_ROUTE, headers=auth)
        if probe.status_code != 200:
            raise SystemExit(f"GET {ME_ROUTE} with the demo key: {probe.status_code} {probe.text}")
        me = probe.json()
        bare_port = free_port()
        bare_log_path = log_path.with_name("bare.log")
        with bare_log_path.open("wb") as bare_log:
            bare = _start_bare(
                database_url,
                org_id=me["organization"]["id"],
                user_id=me["user"]["id"],
                port=bare_port,
                log=bare_log,
            )
            try:
                async with httpx.AsyncClient(base_url=f"http://{HOST}:{bare_port}") as bare_client:
                    await wait_until_up(
                        bare_client,
                        bare,
                        path=ME_ROUTE,
                        what="the bare app",
                        timeout_s=STARTUP_TIMEOUT_S,
                        log_path=bare_log_path,
                    )
                bare_url, me_url = f"http://{HOST}:{bare_port}{ME_ROUTE}", f"{base_url}{ME_ROUTE}"
                common = {"connections": args.concurrency}
                await _wrk.run(bare_url, headers={}, seconds=args.warmup, **common)
                await _wrk.run(me_url, headers=auth, seconds=args.warmup, **common)
                stop = asyncio.Event()
                writers = [
                    asyncio.create_task(_writer_loop(client, auth, stop, writes))
                    for _ in range(args.writers)
                ]
                started = time.perf_counter()
                try:
                    per_round_s = args.duration / args.rounds
                    for _ in range(args.rounds):
                        cpu_before = _cpu_s(bare.pid)
                        bare_rounds.runs.append(
                            await _wrk.run(bare_url, headers={}, seconds=per_round_s, **common)
                        )
                        cpu["bare"] += _cpu_s(bare.pid) - cpu_before
                        before = await _scrape(client)
                        cpu_before = _cpu_s(server.pid)
                        me_rounds.runs.append(
                            await _wrk.run(me_url, headers=auth, seconds=per_round_s, **common)
                        )
                        cpu["me"] += _cpu_s(server.pid) - cpu_before
                        totals.add(before, await _scrape(client))
                finally:
                    stop.set()
                    await asyncio.gather(*writers)
                    writes.elapsed_s = time.perf_counter() - started
            finally:
                stop_process(bare)
    bare_figures, me_figures = bare_rounds.figures(), me_rounds.figures()
    auth_mean = totals.auth_sum / totals.auth_count if totals.auth_count else None
    me_mean = totals.me_sum / totals.me_count if totals.me_count else None
    lookups = totals.cache_hits + totals.cache_misses
    return {
        "driver": "wrk",
        "bare_me": bare_figures,
        "me": me_figures,
        "me_over_bare": round(me_figures["rps"] / bare_figures["rps"], 3)
        if bare_figures["rps"]
        else None,
        **_cpu_figures(cpu, bare_figures["requests"], me_figures["requests"]),
        **({"writers": args.writers, "writes": writes.figures()} if args.writers else {}),
        "auth_mean_us": _us(auth_mean),
        "me_server_mean_ms": ms(me_mean),
        "auth_share": round(auth_mean / me_mean, 4) if auth_mean and me_mean else None,
        "auth_cache_hit_ratio": round(totals.cache_hits / lookups, 4) if lookups else None,
    }


# ------------------------------------------------------------------ main


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per endpoint")
    parser.add_argument("--requests", type=int, default=40_000, help="max requests per endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default=None, help="e.g. redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--driver",
        choices=("wrk", "httpx"),
        default="wrk" if _wrk.available() else "httpx",
        help="wrk: beside a bare FastAPI + SQLAlchemy app; httpx: beside /healthz",
    )
    parser.add_argument(
        "--writers", type=int, default=0, help="wrk driver: clients creating contacts meanwhile"
    )
    parser.add_argument(
        "--run-jobs",
        action="store_true",
        help="serve with the background loops in process (COMMBASE_RUN_JOBS=true)",
    )
    args = parser.parse_args(argv)
    if args.driver == "wrk" and not _wrk.available():
        parser.error("--driver wrk needs wrk on PATH (apt-get install wrk)")
    if args.writers < 0 or (args.writers and args.driver != "wrk"):
        parser.error("--writers is for the wrk driver")
    if args.concurrency < 1 or args.rounds < 1 or args.requests < 1 or args.duration <= 0:
        parser.error("--concurrency, --rounds, --requests and --duration must be positive")
    return args


def _database_name(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    command = commbase_command()
    with tempfile.TemporaryDirectory(prefix="commbase-bench-") as tmp:
        workdir = Path(tmp)
        env = server_env(
            args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            secret="bench-secret-" + "x" * 40,
            run_jobs=args.run_jobs,
            redis_url=args.redis_url,
        )
        if args.redis_url:
            # The demo key is the same in every run: drop principals cached for an
            # earlier run's database (the Redis database is the benchmark's own).
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        api_key = migrate_and_demo(command, env, workdir)
        port = free_port()
        log_path = workdir / "server.log"
        load_before = os.getloadavg()[0]
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [*command, "serve", "--host", HOST, "--port", str(port)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                if args.driver == "wrk":
                    figures = asyncio.run(
                        _bench_wrk(
                            args,
                            base_url=f"http://{HOST}:{port}",
                            api_key=api_key,
                            server=server,
                            log_path=log_path,
                            database_url=env["COMMBASE_DATABASE_URL"],
                        )
                    )
                else:
                    figures = asyncio.run(
                        _bench(
                            args,
                            base_url=f"http://{HOST}:{port}",
                            api_key=api_key,
                            server=server,
                            log_path=log_path,
                        )
                    )
            finally:
                stop_process(server)
    result = {
        "bench": "auth",
        "database": _database_name(env["COMMBASE_DATABASE_URL"]),
        "redis": bool(args.redis_url),
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "run_jobs": args.run_jobs,
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
