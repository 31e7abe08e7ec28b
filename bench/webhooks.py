"""Webhook delivery: events fanned out to three endpoints on a local receiver.

    .venv/bin/python bench/webhooks.py [--events 3000] [--workers 2]
                                       [--mode processes|inprocess] [--database-url URL]
                                       [--rate EVENTS_PER_S] [--worker-concurrency N]

The default database is PostgreSQL ``cb_bench_webhooks`` on 127.0.0.1, created when
missing and migrated (``commbase.cli.migrate_database``); its webhook and outbox
tables are emptied first (``--keep-data`` keeps them) and vacuumed before each
phase, since earlier runs leave rows behind, and dead ones if autovacuum is off.
``--database-url sqlite`` runs the same on a fresh SQLite file in a temporary
directory (or give any ``sqlite+aiosqlite:///path.db``). Each run makes a new
organization with three endpoints subscribed to ``contact.deleted``, each pointing
at its own path of a receiver on 127.0.0.1: a small ASGI app under uvicorn (uvloop,
httptools) in a separate process, which notes the wall-clock time each request
arrives and verifies every signature with the ``standardwebhooks`` library
(``--verify-every K`` checks one request in K instead). Endpoints of earlier runs
still in the database are disabled, so they cannot steal the workers' time.

Events are recorded with ``commbase.core.outbox.record`` by ``--record-concurrency``
clients, each in its own committed transaction; the wall-clock time just after
each commit is noted by event id. Two phases of ``--events`` events each:

1. ``recorded_then_drained``: every event is committed first, then ``--workers``
   dispatchers start and run until idle: the dispatch-only rate.
2. ``recorded_while_workers_run``: long-running dispatchers are started (and
   warmed up with a few events, not counted), then events are recorded while
   they work (``--rate`` paces the recording; 0 is as fast as it goes).

Dispatchers are ``python -m commbase.cli webhooks worker`` processes
(``--until-idle`` in phase 1; the long-running form in phase 2, stopped with
SIGINT once everything is recorded as delivered) or, with ``--mode inprocess``,
``Dispatcher`` instances in this process, each with its own engine.

Per phase: deliveries/s (phase 1: over worker start -> last receipt, which includes
the workers' start-up, and also first -> last receipt; phase 2: over first commit ->
last receipt), p50/p99 commit -> receipt latency, the workers' CPU per delivery,
duplicates at the receiver, and the database's view: every (endpoint, event)
exactly one delivery, succeeded after exactly one attempt, and the ``webhooks``
outbox consumer left with nothing pending. ``exact`` is true when all of that holds.

Prints one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import httpx
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from commbase import models as _models  # noqa: F401  (every table, for the mappers)
from commbase.contacts import events as contact_events
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.ids import new_id
from commbase.identity import service as identity_service
from commbase.settings import Settings
from commbase.webhooks import dispatcher as webhook_dispatcher
from commbase.webhooks import fan_out as webhook_fan_out
from commbase.webhooks import secrets as webhook_secrets
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (
    asyncpg_params,
    free_port,
    ms,
    percentile,
    prepare_database,
    run,
    stop_process,
    wait_until_up,
)

HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_webhooks"
SERVER_SECRET = "bench-webhooks-secret-" + "x" * 40
EVENT_TYPE = contact_events.CONTACT_DELETED  # payload {"id": ...}
ENDPOINTS = 3
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 15.0
POLL_S = 0.02
IN_CHUNK = 2000
# Queue tables this benchmark empties before a run (``--keep-data`` to leave them).
QUEUE_TABLES = (
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "outbox_deliveries",
    "outbox_events",
)
T = TypeVar("T")


# ------------------------------------------------------------------ receiver


@dataclass
class ReceiverState:
    verifiers: dict[str, Any] = field(default_factory=dict)  # endpoint key -> Webhook
    verify_every: int = 1
    seen: int = 0
    # (endpoint key, webhook-id, arrival wall time, 1 verified / 0 failed / -1 unchecked)
    records: list[tuple[str, str, float, int]] = field(default_factory=list)


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, body: bytes):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _receiver_app(state: ReceiverState) -> Callable[..., Awaitable[None]]:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        arrived = time.time()
        body = await _read_body(receive)
        path, method = scope["path"], scope["method"]
        if method == "POST" and path.startswith("/hooks/"):
            key = path.removeprefix("/hooks/")
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            verified = -1
            state.seen += 1
            verifier = state.verifiers.get(key)
            if verifier is not None and state.seen % state.verify_every == 0:
                try:
                    parsed = verifier.verify(body, headers)
                    verified = int(parsed.get("type") == EVENT_TYPE and "id" in parsed["data"])
                except (WebhookVerificationError, ValueError, KeyError, TypeError):
                    verified = 0
            state.records.append((key, headers.get("webhook-id", ""), arrived, verified))
            await _respond(send, 200, b'"ok"')
        elif method == "GET" and path == "/_healthz":
            await _respond(send, 200, b'"ok"')
        elif method == "GET" and path == "/_count":
            await _respond(send, 200, str(len(state.records)).encode())
        elif method == "GET" and path == "/_results":
            await _respond(send, 200, json.dumps(state.records).encode())
        elif method == "POST" and path == "/_reset":
            state.records = []
            await _respond(send, 200, b'"ok"')
        elif method == "POST" and path == "/_config":
            config = json.loads(body)
            state.verifiers = {key: Webhook(secret) for key, secret in config["secrets"].items()}
            state.verify_every = max(1, int(config["verify_every"]))
            await _respond(send, 200, b'"ok"')
        else:
            await _respond(send, 404, b'"not found"')

    return app


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _receiver_app(ReceiverState()),
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=2048,
        # Longer than httpx's 5 s keep-alive expiry, so the sender always retires an
        # idle connection first (as behind nginx, 75 s): with both at 5 s a request can
        # meet a connection the receiver is closing, and wait a minute for its retry.
        timeout_keep_alive=60,
    )


# ------------------------------------------------------------------ database


async def _postgres(url: str, *statements: str) -> list[Any]:
    """Run statements outside any transaction (VACUUM needs that); the last one's rows."""
    connection = await asyncpg.connect(**asyncpg_params(url))
    try:
        for statement in statements[:-1]:
            await connection.execute(statement)
        return list(await connection.fetch(statements[-1]))
    finally:
        await connection.close()


async def _vacuum(url: str) -> None:
    """Clear dead rows from the queue tables, as autovacuum would (it may be off)."""
    if make_url(url).get_backend_name() == "postgresql":
        await _postgres(url, f"VACUUM (ANALYZE) {', '.join(QUEUE_TABLES)}", "SELECT 1")


def _reset_queue_tables(url: str) -> dict[str, Any]:
    """Start from empty queue tables (earlier runs leave rows, and dead rows if autovacuum
    is off); returns what PostgreSQL's autovacuum is set to."""
    if make_url(url).get_backend_name() != "postgresql":
        return {"queue_tables_reset": False}  # a SQLite file: fresh unless you gave one
    if "bench" not in (make_url(url).database or ""):
        raise SystemExit("only a database named *bench* is emptied first; or pass --keep-data")
    rows = asyncio.run(
        _postgres(
            url,
            f"TRUNCATE {', '.join(QUEUE_TABLES)}",
            "SELECT current_setting('autovacuum') AS autovacuum",
        )
    )
    return {"queue_tables_reset": True, "pg_autovacuum": rows[0]["autovacuum"]}


@dataclass
class Setup:
    org_id: str
    endpoint_keys: dict[str, str]  # endpoint id -> receiver path key
    secrets: dict[str, str]  # receiver path key -> signing secret
    stale_endpoints_disabled: int


async def _setup(database: Database, base_url: str) -> Setup:
    async with database.sessionmaker() as session:
        org = await identity_service.create_organization(
            session, name=f"Bench webhooks {new_id('run')[-10:].lower()}"
        )
        # Earlier runs' endpoints point at receivers that are gone: keep them out.
        stale = await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.org_id != org.id, WebhookEndpoint.status != "disabled")
            .values(status="disabled", disabled_reason="an earlier benchmark run")
        )
        keys: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for n in range(ENDPOINTS):
            key = str(n)
            secret = webhook_secrets.new_secret()
            endpoint = WebhookEndpoint(
                org_id=org.id,
                url=f"{base_url}/hooks/{key}",
                description=f"bench endpoint {key}",
                event_types=[EVENT_TYPE],
                secret_encrypted=webhook_secrets.encrypt(secret, server_secret=SERVER_SECRET),
            )
            session.add(endpoint)
            await session.flush()
            keys[endpoint.id] = key
            secrets[key] = secret
        await session.commit()
        return Setup(org.id, keys, secrets, int(getattr(stale, "rowcount", 0) or 0))


async def _record_events(
    database: Database, org_id: str, *, count: int, concurrency: int, rate: float, deadline: float
) -> dict[str, float]:
    """Record ``count`` events, each committed on its own; event id -> commit wall time."""
    commits: dict[str, float] = {}
    next_index = 0
    started = time.perf_counter()

    async def client() -> None:
        nonlocal next_index
        while next_index < count and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            if rate > 0:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with database.sessionmaker() as session:
                event = await outbox.record(
                    session, EVENT_TYPE, {"id": new_id("con")}, org_id=org_id
                )
                await session.commit()
            commits[event.id] = time.time()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return commits


async def _database_view(database: Database, org_id: str, event_ids: list[str]) -> dict[str, Any]:
    """What the database says about this phase's deliveries and attempts."""
    statuses: dict[str, int] = {}
    deliveries = attempts = succeeded_attempts = extra_attempts = 0
    workers: dict[str, int] = {}
    failures: dict[str, int] = {}
    async with database.sessionmaker() as session:
        for start in range(0, len(event_ids), IN_CHUNK):
            chunk = event_ids[start : start + IN_CHUNK]
            in_phase = (WebhookDelivery.org_id == org_id, WebhookDelivery.event_id.in_(chunk))
            for status, n in (
                await session.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(*in_phase)
                    .group_by(WebhookDelivery.status)
                )
            ).all():
                statuses[status] = statuses.get(status, 0) + int(n)
                deliveries += int(n)
            per_delivery = (
                select(
                    WebhookAttempt.delivery_id,
                    func.count().label("n"),
                )
                .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                .where(*in_phase)
                .group_by(WebhookAttempt.delivery_id)
                .subquery()
            )
            row = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(per_delivery.c.n), 0),
                        func.coalesce(func.sum(per_delivery.c.n - 1), 0),
                    )
                )
            ).one()
            attempts += int(row[0])
            extra_attempts += int(row[1])
            succeeded_attempts += int(
                await session.scalar(
                    select(func.count())
                    .select_from(WebhookAttempt)
                    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                    .where(*in_phase, WebhookAttempt.succeeded.is_(True))
                )
                or 0
            )
            for worker, n in (
                await session.execute(
                    select(WebhookAttempt.worker, func.count())
                    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                    .where(*in_phase)
                    .group_by(WebhookAttempt.worker)
                )
            ).all():
                workers[worker] = workers.get(worker, 0) + int(n)
            for error, code, n in (
                await session.execute(
                    select(WebhookAttempt.error, WebhookAttempt.response_status, func.count())
                    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                    .where(*in_phase, WebhookAttempt.succeeded.is_(False))
                    .group_by(WebhookAttempt.error, WebhookAttempt.response_status)
                )
            ).all():
                reason = error or f"HTTP {code}"
                failures[reason] = failures.get(reason, 0) + int(n)
        pending_outbox = await outbox.pending_count(session, consumer=webhook_fan_out.CONSUMER)
    return {
        "deliveries": deliveries,
        "statuses": statuses,
        "attempts": attempts,
        "succeeded_attempts": succeeded_attempts,
        "extra_attempts": extra_attempts,
        "attempts_by_worker": dict(sorted(workers.items())),
        "failed_attempts_by_error": failures,
        "outbox_pending": pending_outbox,
    }


async def _settled(database: Database, org_id: str, event_ids: list[str]) -> bool:
    """Every delivery of these events exists and is finished, and the outbox is drained."""
    async with database.sessionmaker() as session:
        if await outbox.pending_count(session, consumer=webhook_fan_out.CONSUMER):
            return False
        done = 0
        for start in range(0, len(event_ids), IN_CHUNK):
            done += int(
                await session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.org_id == org_id,
                        WebhookDelivery.event_id.in_(event_ids[start : start + IN_CHUNK]),
                        WebhookDelivery.status != "pending",
                    )
                )
                or 0
            )
    return done >= len(event_ids) * ENDPOINTS


# ------------------------------------------------------------------ workers


def _worker_env(database_url: str, concurrency: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMBASE_")}
    env.update(
        {
            "COMMBASE_ENV": "development",
            "COMMBASE_DATABASE_URL": database_url,
            "COMMBASE_SECRET_KEY": SERVER_SECRET,
            "COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
            "COMMBASE_RUN_JOBS": "false",
            "COMMBASE_LOG_LEVEL": "WARNING",
            "NO_COLOR": "1",
            "TERM": "dumb",
        }
    )
    if concurrency is not None:
        env["COMMBASE_WEBHOOK_WORKER_CONCURRENCY"] = str(concurrency)
    return env


def _settings(database_url: str, concurrency: int | None) -> Settings:
    extra: dict[str, Any] = {}
    if concurrency is not None:
        extra["webhook_worker_concurrency"] = concurrency
    return Settings(
        env="development",
        database_url=database_url,
        secret_key=SecretStr(SERVER_SECRET),
        webhooks_allow_private_urls=True,
        run_jobs=False,
        log_level="WARNING",
        **extra,
    )


class Workers:
    """``count`` dispatchers, as worker processes or as in-process ``Dispatcher`` loops."""

    def __init__(self, args: argparse.Namespace, workdir: Path, tag: str) -> None:
        self.args = args
        self.workdir = workdir
        self.tag = tag
        self.ids = [f"bench-{tag}-{n}" for n in range(args.workers)]
        self.processes: list[asyncio.subprocess.Process] = []
        self.logs: list[Any] = []
        self.dispatchers: list[webhook_dispatcher.Dispatcher] = []
        self.databases: list[Database] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self._cpu_at_start = 0.0

    def _cpu(self) -> float:
        """CPU seconds of reaped child processes, or of this process in-process mode."""
        if self.args.mode == "processes":
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return time.process_time()

    def cpu_used(self) -> float:
        """Since ``start``; for processes, counted once they have exited (been reaped)."""
        return self._cpu() - self._cpu_at_start

    async def start(self, *, until_idle: bool) -> None:
        self._cpu_at_start = self._cpu()
        if self.args.mode == "processes":
            env = _worker_env(self.args.database_url, self.args.worker_concurrency)
            for worker_id in self.ids:
                log = (self.workdir / f"{worker_id}.log").open("wb")
                self.logs.append(log)
                command = [sys.executable, "-m", "commbase.cli", "webhooks", "worker"]
                command += ["--until-idle"] if until_idle else []
                self.processes.append(
                    await asyncio.create_subprocess_exec(
                        *command,
                        "--worker-id",
                        worker_id,
                        env=env,
                        cwd=self.workdir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            return
        settings = _settings(self.args.database_url, self.args.worker_concurrency)
        for worker_id in self.ids:
            database = Database(self.args.database_url)
            dispatcher = webhook_dispatcher.Dispatcher(database, settings, worker_id=worker_id)
            self.databases.append(database)
            self.dispatchers.append(dispatcher)
            self.tasks.append(
                asyncio.create_task(
                    self._until_idle(dispatcher) if until_idle else dispatcher.run_forever()
                )
            )

    @staticmethod
    async def _until_idle(dispatcher: webhook_dispatcher.Dispatcher) -> int:
        total = 0
        while True:  # as `commbase webhooks worker --until-idle` does
            done = await dispatcher.run_once()
            total += done
            if not done:
                return total

    async def wait(self, limit_s: float) -> list[int]:
        """Wait for every worker to finish by itself; their exit codes (0 for tasks)."""
        if self.processes:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in self.processes)), limit_s)
            return [p.returncode or 0 for p in self.processes]
        await asyncio.wait_for(asyncio.gather(*self.tasks), limit_s)
        return [0 for _ in self.tasks]

    async def stop(self) -> list[int]:
        """Stop long-running workers gracefully (SIGINT / ``Dispatcher.stop``)."""
        codes: list[int] = []
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()
            # SIGINT ends `commbase webhooks worker` with KeyboardInterrupt: 130 or -2.
            codes.append(0 if process.returncode in (0, 130, -signal.SIGINT) else 1)
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        if self.tasks:
            await asyncio.wait_for(asyncio.gather(*self.tasks), SHUTDOWN_TIMEOUT_S)
            codes += [0 for _ in self.tasks]
        return codes

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        for dispatcher in self.dispatchers:
            await dispatcher.close()
        for database in self.databases:
            await database.dispose()
        for log in self.logs:
            log.close()

    def tail(self, lines: int = 20) -> str:
        out = []
        for worker_id in self.ids:
            path = self.workdir / f"{worker_id}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {worker_id}\n" + "\n".join(text))
        return "\n".join(out)


# ------------------------------------------------------------------ measuring


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds and seconds > 0 else None


def _receipts(
    records: list[list[Any]], commits: dict[str, float], keys: set[str]
) -> dict[str, Any]:
    """Compare what the receiver got with what was committed."""
    first: dict[tuple[str, str], float] = {}
    duplicates = unexpected = verified = failed = unchecked = 0
    for key, webhook_id, arrived, ok in records:
        if webhook_id not in commits or key not in keys:
            unexpected += 1
            continue
        pair = (key, webhook_id)
        if pair in first:
            duplicates += 1
            first[pair] = min(first[pair], arrived)
        else:
            first[pair] = arrived
        if ok == 1:
            verified += 1
        elif ok == 0:
            failed += 1
        else:
            unchecked += 1
    expected = len(commits) * len(keys)
    latencies = sorted(arrived - commits[webhook_id] for (_, webhook_id), arrived in first.items())
    return {
        "expected": expected,
        "received": len(records),
        "unique": len(first),
        "missing": expected - len(first),
        "duplicates": duplicates,
        "unexpected": unexpected,
        "signatures_verified": verified,
        "signatures_failed": failed,
        "signatures_unchecked": unchecked,
        "first_receipt": min(first.values()) if first else None,
        "last_receipt": max(first.values()) if first else None,
        "latencies": latencies,
    }


def _latency_figures(latencies: list[float]) -> dict[str, Any]:
    return {
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p90_ms": ms(percentile(latencies, 0.90)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(latencies[-1] if latencies else None),
        "min_ms": ms(latencies[0] if latencies else None),
    }


async def _receiver_records(client: httpx.AsyncClient) -> list[list[Any]]:
    response = await client.get("/_results", timeout=60.0)
    response.raise_for_status()
    records: list[list[Any]] = response.json()
    return records


async def _wait_for(
    client: httpx.AsyncClient,
    database: Database,
    org_id: str,
    event_ids: list[str],
    *,
    deadline: float,
) -> bool:
    """Until the receiver holds every delivery and the database shows them finished."""
    expected = len(event_ids) * ENDPOINTS
    while time.perf_counter() < deadline:
        count = int((await client.get("/_count")).text)
        if count >= expected and await _settled(database, org_id, event_ids):
            return True
        await asyncio.sleep(POLL_S if count < expected else 0.1)
    return False


def _exact(phase: dict[str, Any], events: int) -> bool:
    db = phase["database"]
    expected = events * ENDPOINTS
    return (
        phase["recorded"] == events
        and phase["missing"] == 0
        and phase["duplicates"] == 0
        and phase["unexpected"] == 0
        and phase["signatures_failed"] == 0
        and db["deliveries"] == expected
        and db["statuses"] == {"succeeded": expected}
        and db["attempts"] == expected
        and db["succeeded_attempts"] == expected
        and db["extra_attempts"] == 0
        and db["outbox_pending"] == 0
        and all(code == 0 for code in phase["worker_exit_codes"])
    )


# ------------------------------------------------------------------ phases


async def _phase_drained(
    args: argparse.Namespace,
    database: Database,
    client: httpx.AsyncClient,
    setup: Setup,
    workdir: Path,
    deadline: float,
) -> dict[str, Any]:
    await _vacuum(args.database_url)
    await client.post("/_reset")
    began = time.perf_counter()
    commits = await _record_events(
        database,
        setup.org_id,
        count=args.events,
        concurrency=args.record_concurrency,
        rate=0.0,
        deadline=deadline,
    )
    record_s = time.perf_counter() - began
    workers = Workers(args, workdir, "drain")
    try:
        launched = time.time()
        await workers.start(until_idle=True)
        codes = await workers.wait(max(1.0, deadline - time.perf_counter()))
        finished = time.time()
        cpu_s = workers.cpu_used()
    except TimeoutError:
        raise SystemExit(f"the workers did not finish in time:\n{workers.tail()}") from None
    finally:
        await workers.close()
    if any(codes):
        raise SystemExit(f"a worker failed:\n{workers.tail()}")
    seen = _receipts(await _receiver_records(client), commits, set(setup.secrets))
    view = await _database_view(database, setup.org_id, list(commits))
    latencies = seen.pop("latencies")
    first_commit, last_commit = min(commits.values()), max(commits.values())
    first_receipt, last_receipt = seen.pop("first_receipt"), seen.pop("last_receipt")
    delivered = seen["unique"]
    return {
        "recorded": len(commits),
        "record_s": round(record_s, 3),
        "events_recorded_per_s": _rate(len(commits), record_s),
        "deliveries_per_s": _rate(delivered, last_receipt - launched if last_receipt else None),
        "deliveries_per_s_first_to_last_receipt": _rate(
            delivered, last_receipt - first_receipt if last_receipt else None
        ),
        "deliveries_per_s_until_workers_exit": _rate(delivered, finished - launched),
        "deliveries_per_s_first_commit_to_last_receipt": _rate(
            delivered, last_receipt - first_commit if last_receipt else None
        ),
        "worker_start_to_first_receipt_ms": ms(first_receipt - launched if first_receipt else None),
        "workers_run_s": round(finished - launched, 3),
        "recording_span_s": round(last_commit - first_commit, 3),
        **{f"commit_to_receipt_{k}": v for k, v in _latency_figures(latencies).items()},
        **seen,
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_ms_per_delivery": ms(cpu_s / delivered if delivered else None),
        "worker_exit_codes": codes,
        "database": view,
    }


async def _phase_live(
    args: argparse.Namespace,
    database: Database,
    client: httpx.AsyncClient,
    setup: Setup,
    workdir: Path,
    deadline: float,
) -> dict[str, Any]:
    await _vacuum(args.database_url)
    workers = Workers(args, workdir, "live")
    try:
        await workers.start(until_idle=False)
        # Warm up: the workers have started, connected and delivered something.
        warm: list[str] = []
        warm_until = time.perf_counter() + args.warmup
        while time.perf_counter() < warm_until or not warm:
            warm += list(
                await _record_events(
                    database, setup.org_id, count=1, concurrency=1, rate=0.0, deadline=deadline
                )
            )
            if not await _wait_for(client, database, setup.org_id, warm, deadline=deadline):
                raise SystemExit(f"warm-up deliveries never arrived:\n{workers.tail()}")
        await client.post("/_reset")
        began = time.perf_counter()
        commits = await _record_events(
            database,
            setup.org_id,
            count=args.events,
            concurrency=args.record_concurrency,
            rate=args.rate,
            deadline=deadline,
        )
        record_s = time.perf_counter() - began
        complete = await _wait_for(client, database, setup.org_id, list(commits), deadline=deadline)
        codes = await workers.stop()
        # In-process dispatchers share this process with the recording: no clean figure.
        cpu_s = workers.cpu_used() if args.mode == "processes" else None
    finally:
        await workers.close()
    seen = _receipts(await _receiver_records(client), commits, set(setup.secrets))
    view = await _database_view(database, setup.org_id, list(commits))
    latencies = seen.pop("latencies")
    first_commit, last_commit = min(commits.values()), max(commits.values())
    seen.pop("first_receipt")
    last_receipt = seen.pop("last_receipt")
    delivered = seen["unique"]
    return {
        "recorded": len(commits),
        "rate_limit_events_per_s": args.rate or None,
        "record_s": round(record_s, 3),
        "events_recorded_per_s": _rate(len(commits), record_s),
        "deliveries_per_s": _rate(delivered, last_receipt - first_commit if last_receipt else None),
        "recording_span_s": round(last_commit - first_commit, 3),
        "last_commit_to_last_receipt_ms": ms(last_receipt - last_commit if last_receipt else None),
        "warmup_events": len(warm),
        "completed_in_time": complete,
        **{f"commit_to_receipt_{k}": v for k, v in _latency_figures(latencies).items()},
        **seen,
        "worker_cpu_s": None if cpu_s is None else round(cpu_s, 2),
        "worker_cpu_ms_per_delivery": ms(cpu_s / delivered if cpu_s and delivered else None),
        "worker_exit_codes": codes,
        "database": view,
    }


async def _bench(
    args: argparse.Namespace, workdir: Path, base_url: str, receiver: subprocess.Popen[bytes]
) -> dict[str, Any]:
    deadline = time.perf_counter() + args.max_seconds
    database = Database(args.database_url)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
            await wait_until_up(
                client, receiver, path="/_healthz", what="the receiver", timeout_s=STARTUP_TIMEOUT_S
            )
            setup = await _setup(database, base_url)
            configured = await client.post(
                "/_config", json={"secrets": setup.secrets, "verify_every": args.verify_every}
            )
            configured.raise_for_status()
            phases: dict[str, Any] = {}
            if args.phase in ("both", "drained"):
                phases["recorded_then_drained"] = await _phase_drained(
                    args, database, client, setup, workdir, deadline
                )
            if args.phase in ("both", "live"):
                phases["recorded_while_workers_run"] = await _phase_live(
                    args, database, client, setup, workdir, deadline
                )
        for figures in phases.values():
            figures["exact"] = _exact(figures, args.events)
        return {
            "stale_endpoints_disabled": setup.stale_endpoints_disabled,
            "phases": phases,
            "exact": all(figures["exact"] for figures in phases.values()),
        }
    finally:
        await database.dispose()


# ------------------------------------------------------------------ main


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a PostgreSQL URL on 127.0.0.1, a SQLite URL, or 'sqlite' for a fresh temp file",
    )
    parser.add_argument("--events", type=int, default=3000, help="events per phase")
    parser.add_argument("--workers", type=int, default=2, help="dispatchers")
    parser.add_argument("--mode", choices=("processes", "inprocess"), default="processes")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        help="COMMBASE_WEBHOOK_WORKER_CONCURRENCY for the dispatchers (default: the setting's)",
    )
    parser.add_argument("--record-concurrency", type=int, default=8, help="recording clients")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="phase 2: events/s to record at (0: unpaced)"
    )
    parser.add_argument("--phase", choices=("both", "drained", "live"), default="both")
    parser.add_argument("--warmup", type=float, default=2.0, help="phase 2 warm-up seconds")
    parser.add_argument(
        "--verify-every", type=int, default=1, help="verify 1 request in K (1: all)"
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="give up after this")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="do not empty the webhook and outbox tables first (PostgreSQL)",
    )
    parser.add_argument("--serve-receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.events, args.workers, args.record_concurrency, args.verify_every) < 1:
        parser.error("--events, --workers, --record-concurrency and --verify-every must be >= 1")
    if args.rate < 0 or args.max_seconds <= 0 or args.warmup < 0:
        parser.error("--rate and --warmup must not be negative, --max-seconds must be positive")
    if args.worker_concurrency is not None and args.worker_concurrency < 1:
        parser.error("--worker-concurrency must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.serve_receiver is not None:
        serve_receiver(args.serve_receiver)
        return 0
    with tempfile.TemporaryDirectory(prefix="commbase-bench-webhooks-") as tmp:
        workdir = Path(tmp)
        if args.database_url == "sqlite":
            args.database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        created = prepare_database(args.database_url)
        state: dict[str, Any] = (
            {"queue_tables_reset": False}
            if args.keep_data
            else _reset_queue_tables(args.database_url)
        )
        load_before = os.getloadavg()[0]
        port = free_port()
        with (workdir / "receiver.log").open("wb") as receiver_log:
            receiver = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve-receiver", str(port)],
                cwd=workdir,
                stdout=receiver_log,
                stderr=subprocess.STDOUT,
            )
            try:
                figures = run(_bench(args, workdir, f"http://{HOST}:{port}", receiver), args.loop)
            finally:
                stop_process(receiver)
    result = {
        "bench": "webhooks",
        "database": make_url(args.database_url).get_backend_name(),
        "database_created": created,
        **state,
        "events_per_phase": args.events,
        "endpoints": ENDPOINTS,
        "mode": args.mode,
        "workers": args.workers,
        "worker_concurrency": args.worker_concurrency
        or Settings.model_fields["webhook_worker_concurrency"].default,
        "record_concurrency": args.record_concurrency,
        "signatures": "all" if args.verify_every == 1 else f"1 in {args.verify_every}",
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0 if figures["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
