"""Authenticated ``GET /v1/me`` against a real uvicorn server, beside ``/healthz``.

    .venv/bin/python bench/auth.py [--concurrency 16] [--duration 12] [--requests 40000]
                                   [--database-url URL] [--redis-url URL]

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
STARTUP_TIMEOUT_S = 60.0

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
    args = parser.parse_args(argv)
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
            run_jobs=True,
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
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
