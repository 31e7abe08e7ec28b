"""Simulated calls placed and completed end to end: calls/s, with the books checked exact.

    .venv/bin/python bench/calls.py [--calls 2000] [--concurrency 32] [--database-url URL]
                                    [--dial-latency-ms 0] [--workers 0] [--placers 1]

The app runs in process (``httpx.ASGITransport`` under ``asgi_lifespan``) with the
simulator provider, no background jobs and a ``FrozenClock`` installed. A fresh
SQLite database in a temporary directory is migrated, or ``--database-url``, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_calls`` (created when
missing, then migrated). A new organization gets a funded wallet and an API key
with a huge rate limit and ``max_concurrent_calls``. Before timing, the objects
start-up built are moved out of the garbage collector's generations (``gc.freeze``),
as the served app (``create_served_app``) does.

1. Placement: ``--concurrency`` clients send ``--calls`` ``POST /v1/calls``
   (answered numbers: 4 s of ringing, then 60-159 s of talk), each holding funds
   and answering with the call ``queued``.
2. Dialing: the ``calls.dial`` effect dials every queued call after its placement
   committed (in the app the runner is woken by each commit; here it runs after the
   placement phase, so the two are timed apart). ``--dial-latency-ms`` makes each
   dial take that long, as a carrier's API round trip does: placements do not wait
   for it, and no wallet is locked while it runs.
3. Completion: the clock jumps ``--step`` seconds and
   ``commbase.calls.simulation.advance_simulated_calls`` runs until every call of
   the run has completed (it takes up to 500 calls per pass; on PostgreSQL 16
   transactions side by side, one call each, whose charges join the wallet's group
   commit, as concurrent carrier callbacks' do).
4. Check: every call completed, one ``call_charge`` ledger entry per call, the
   wallet at ``start - sum(cost_amount)`` with nothing held.

With ``--workers N`` (PostgreSQL only) the phases overlap as they do in the documented
production layout (API processes with ``COMMBASE_RUN_JOBS=false`` beside ``commbase
worker`` processes): this process places the calls while N worker processes, started
before the first placement, dial each call once its placement committed (the
``calls.dial`` effect) and play it to its end (``advance_simulated_calls`` at a
clock a day ahead: every scripted step is due at once, as with one ``--step``). The
placements and the completions contend for the one wallet's row across processes, as
they do when deployed. ``pipelined_calls_per_s`` is the calls completed over the
wall time from the first placement to the last completion; ``worker_cpu_ms_per_call``
the workers' CPU per call (dial and completion together; passes that found nothing to do
are counted apart, ``worker_idle_cpu_ms``). ``--placers P`` places from P API processes
(this one and P-1 spawned, each with its own app and ``--concurrency / P`` clients):
``cpu_ms_per_placement`` is then their CPU together, ``sql_per_placement`` this process's.

``sql_per_placement`` and ``sql_per_completion`` count the statements sent per
call in each phase (BEGIN, COMMIT and the pool's pre-ping aside), those sent to the
driver directly (``core.driver``: the outbox's batch INSERTs) included; ``cpu_ms_per_*``
this process's CPU time per call in each phase (app and clients; PostgreSQL's aside),
which depends less on the machine's load than the rates do. ``pg_cpu_ms_per_*``:
PostgreSQL's CPU per call in each phase (PostgreSQL on this machine; read from
``/proc``): ``backends`` of the bench's database only, ``all`` every PostgreSQL process
(its WAL writer, checkpointer and autovacuum, and anyone else's sessions).

Prints one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from commbase.app import create_app
from commbase.billing import service as billing_service
from commbase.billing.models import LedgerEntry, Wallet
from commbase.calls import dialing, lifecycle
from commbase.calls.models import Call
from commbase.calls.providers import Carriers, Dialed
from commbase.calls.providers.simulator import SimulatorProvider
from commbase.calls.simulation import advance_simulated_calls
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.db import Database
from commbase.core.driver import Driver
from commbase.core.effects import EffectRunner
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.ratelimit import RateLimitRule
from commbase.core.time import FrozenClock, use_clock
from commbase.identity import service as identity_service
from commbase.identity.api_keys import service as api_keys
from commbase.identity.api_keys.schemas import ApiKeyCreate
from commbase.identity.roles import Role, scopes_for
from commbase.identity.schemas import UserCreate
from commbase.settings import DEFAULT_TIERS, Settings

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import SqlCounter, ms, percentile, prepare_database

HUGE_LIMIT = 1_000_000_000
MAX_CONCURRENT_CALLS = 10_000  # the most an API key may be given
BENCH_TIER = "bench"
CLOCK_START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
HOLD_PER_CALL = 750  # 60 min at the default 0.125/min: what each placement reserves
SECRET = "bench-secret-" + "x" * 40
T = TypeVar("T")


# ------------------------------------------------------------------ database


def _settings(database_url: str, calls: int) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": None,
        "secret_key": SECRET,
        "run_jobs": False,
        "log_level": "WARNING",
        "call_provider": "simulator",
        # The organization's account type caps every credential with its tier: lift
        # them all, or the bench measures the standard tier's 600/min.
        "rate_limit_tiers": {
            name: {"limit": max(HUGE_LIMIT, calls), "window_s": 60}
            for name in (BENCH_TIER, *DEFAULT_TIERS)
        },
        "session_rate_limit": HUGE_LIMIT,
        "anonymous_rate_limit": HUGE_LIMIT,
    }
    return Settings(**values)  # type: ignore[arg-type]


class DriverCounter:
    """Statements sent to the driver directly (``core.driver.Driver``), which
    SQLAlchemy's events do not see."""

    def __init__(self, sql: SqlCounter) -> None:
        self.sql = sql
        self._original = Driver._guarded

    def attach(self) -> None:
        original, sql = self._original, self.sql

        def counted(driver: Driver, method: Any) -> Any:
            guarded = original(driver, method)

            async def call(*args: Any, **kwargs: Any) -> Any:
                sql.statements += 1
                return await guarded(*args, **kwargs)

            return call

        Driver._guarded = counted  # type: ignore[method-assign,assignment]

    def detach(self) -> None:
        Driver._guarded = self._original  # type: ignore[method-assign]


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _postgres_cpu_s(database_name: str | None) -> tuple[float, float]:
    """CPU seconds so far of PostgreSQL's processes on this machine: the backends
    connected to ``database_name``, and all (children reaped by the postmaster
    included); (0, 0) where /proc cannot tell (no PostgreSQL here, not Linux)."""
    backends = everything = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm_end = stat.rfind(")")
        if "(postgres)" not in stat[: comm_end + 1]:
            continue
        fields = stat[comm_end + 2 :].split()
        own = int(fields[11]) + int(fields[12])  # utime, stime
        everything += own
        if not title.startswith("postgres: "):  # the postmaster: its reaped children too
            everything += int(fields[13]) + int(fields[14])
        elif f" {database_name} " in title:
            backends += own
    return backends / _TICKS, everything / _TICKS


# ------------------------------------------------------------------ setup


class LatentSimulator(SimulatorProvider):
    """The simulator, with each dial taking as long as a carrier's API round trip."""

    def __init__(self, *, latency_s: float) -> None:
        super().__init__()
        self.latency_s = latency_s

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        await asyncio.sleep(self.latency_s)
        return await super().dial(call=call, allowed_s=allowed_s, reference=reference)


@dataclass
class Tenant:
    org_id: str
    wallet_id: str
    start_balance: int
    api_key: str


async def _make_tenant(app: FastAPI, *, calls: int) -> Tenant:
    """An organization, its owner, a funded wallet and an API key without limits."""
    settings: Settings = app.state.settings
    tag = new_id("run")[-10:].lower()
    async with app.state.db.sessionmaker() as session:
        org = await identity_service.create_organization(session, name=f"Bench calls {tag}")
        owner, _ = await identity_service.create_user(
            session,
            data=UserCreate(
                email=f"owner-{tag}@bench.example",
                password="bench password " + tag,
                first_name="Owner",
                role=Role.OWNER,
            ),
            org_id=org.id,
        )
        actor = Principal(
            kind=PrincipalKind.USER_SESSION,
            org_id=org.id,
            credential_id="bench",
            scopes=scopes_for(Role.OWNER),
            rate_limit=RateLimitRule("bench", HUGE_LIMIT, 60),
            user_id=owner.id,
            role=Role.OWNER,
        )
        _, secret = await api_keys.create_key(
            session,
            data=ApiKeyCreate(
                name="bench key",
                rate_limit_tier=BENCH_TIER,
                max_concurrent_calls=MAX_CONCURRENT_CALLS,
            ),
            actor=actor,
            client=ClientInfo(None, None, None, None),
            secret=settings.secret_key.get_secret_value(),
            tiers=settings.rate_limit_tiers,
        )
        wallet = await billing_service.create_wallet(
            session, org_id=org.id, owner_type="organization", owner_id=org.id, currency="USD"
        )
        start = calls * HOLD_PER_CALL + 1_000_000
        await billing_service.credit(
            session,
            wallet=wallet,
            amount=start,
            posting=billing_service.Posting(type="credit", category="wallet_topup"),
        )
        await session.commit()
        return Tenant(org.id, wallet.id, start, secret)


def _number(index: int) -> str:
    """Answered numbers only: the last four digits stay clear of 0001-0004."""
    return f"+1415555{1000 + index % 9000:04d}"


# ------------------------------------------------------------------ phases


@dataclass
class Placement:
    latencies_s: list[float] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str | None = None
    elapsed_s: float = 0.0


async def _place_through(
    app: FastAPI,
    tenant: Tenant,
    *,
    calls: int,
    concurrency: int,
    deadline: float,
    first: int = 0,
) -> Placement:
    """``calls`` placements by ``concurrency`` clients through the app in process (the
    numbers called from the ``first``-th on)."""
    placed = Placement()
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    issued = 0
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < calls and time.perf_counter() < deadline:
            index = issued
            issued += 1
            started = time.perf_counter()
            body = {"to": _number(first + index)}
            response = await client.post("/v1/calls", json=body, headers=headers)
            placed.latencies_s.append(time.perf_counter() - started)
            placed.statuses[response.status_code] = placed.statuses.get(response.status_code, 0) + 1
            if response.status_code == 201:
                placed.call_ids.append(response.json()["id"])
            elif placed.first_error is None:
                placed.first_error = f"{response.status_code} {response.text[:300]}"

    async with httpx.AsyncClient(
        transport=transport, base_url="http://commbase.bench", timeout=60.0
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        placed.elapsed_s = time.perf_counter() - started
    return placed


@dataclass
class Dialing:
    elapsed_s: float = 0.0
    dialed: int = 0


async def _dial_all(app: FastAPI, *, deadline: float) -> Dialing:
    """Run the dial effect until no placement is left undialed."""
    done = Dialing()
    runner = EffectRunner(app.state.db, services=app.state.job_services, batch=200, concurrency=64)
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        handled = await runner.run_once(only=[dialing.CONSUMER])
        done.dialed += handled
        if handled == 0:
            break
    done.elapsed_s = time.perf_counter() - started
    return done


async def _active_calls(database: Database, org_id: str | None = None) -> int:
    statement = (
        select(func.count())
        .select_from(Call)
        .where(Call.provider == "simulator", Call.status.in_(lifecycle.ACTIVE))
    )
    if org_id is not None:
        statement = statement.where(Call.org_id == org_id)
    async with database.sessionmaker() as session:
        return int(await session.scalar(statement) or 0)


@dataclass
class Completion:
    elapsed_s: float = 0.0  # inside advance_simulated_calls only
    passes: int = 0
    moves: int = 0
    clock_steps: int = 0
    finished: bool = False


async def _complete_all(
    database: Database, clock: FrozenClock, org_id: str, *, step_s: float, deadline: float
) -> Completion:
    """Move the clock and let the simulator play every call of ``org_id`` to its end."""
    done = Completion()
    while time.perf_counter() < deadline:
        clock.advance(step_s)
        done.clock_steps += 1
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            moved = await advance_simulated_calls(database, now=clock.now())
            done.elapsed_s += time.perf_counter() - started
            done.passes += 1
            done.moves += moved
            if moved == 0:
                break
        if await _active_calls(database, org_id) == 0:
            done.finished = True
            break
    return done


async def _drain_leftovers(database: Database, clock: FrozenClock) -> int:
    """Finish simulated calls an earlier, interrupted run left active in this database."""
    leftovers = await _active_calls(database)
    if leftovers:
        later = FrozenClock(clock.now() + timedelta(days=1))
        while await advance_simulated_calls(database, now=later.now()):
            pass
    return leftovers


async def _verify(database: Database, tenant: Tenant, call_ids: list[str]) -> dict[str, Any]:
    async with database.sessionmaker() as session:
        by_status = dict(
            (
                await session.execute(
                    select(Call.status, func.count())
                    .where(Call.org_id == tenant.org_id)
                    .group_by(Call.status)
                )
            ).all()
        )
        cost_sum, with_entry = (
            await session.execute(
                select(
                    func.coalesce(func.sum(Call.cost_amount), 0),
                    func.count(Call.ledger_entry_id),
                ).where(Call.org_id == tenant.org_id)
            )
        ).one()
        charges = (
            await session.execute(
                select(LedgerEntry.related_call_id, func.count(), func.sum(LedgerEntry.amount))
                .where(
                    LedgerEntry.org_id == tenant.org_id,
                    LedgerEntry.category == "call_charge",
                )
                .group_by(LedgerEntry.related_call_id)
            )
        ).all()
        wallet = await session.get(Wallet, tenant.wallet_id)
        assert wallet is not None
    charged = {call_id: (int(count), int(amount)) for call_id, count, amount in charges}
    placed = set(call_ids)
    completed = int(by_status.get("completed", 0))
    one_charge_each = set(charged) == placed and all(n == 1 for n, _ in charged.values())
    charge_sum = sum(amount for _, amount in charged.values())
    total_cost = int(cost_sum or 0)
    expected = tenant.start_balance - total_cost
    exact = (
        completed == len(placed) == sum(int(n) for n in by_status.values())
        and one_charge_each
        and int(with_entry) == len(placed)
        and charge_sum == total_cost
        and wallet.balance == expected
        and wallet.held == 0
    )
    return {
        "calls_by_status": {str(k): int(v) for k, v in by_status.items()},
        "call_charge_entries": sum(n for n, _ in charged.values()),
        "calls_charged": len(charged),
        "one_charge_per_call": one_charge_each,
        "sum_cost_amount": total_cost,
        "sum_call_charges": charge_sum,
        "start_balance": tenant.start_balance,
        "expected_balance": expected,
        "final_balance": wallet.balance,
        "held": wallet.held,
        "exact": exact,
    }


# ------------------------------------------------------------------ figures


def _per(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _pg_per(
    before: tuple[float, float], after: tuple[float, float], count: int
) -> list[float | None]:
    return [_per(round((b - a) * 1000), count) for a, b in zip(before, after, strict=True)]


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _app(settings: Settings, *, dial_latency_ms: float) -> FastAPI:
    app = create_app(settings)
    if dial_latency_ms:
        app.state.job_services["call_carriers"] = Carriers(
            settings, providers={"simulator": LatentSimulator(latency_s=dial_latency_ms / 1000)}
        )
    return app


async def _bench(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    settings = _settings(database_url, args.calls)
    app = _app(settings, dial_latency_ms=args.dial_latency_ms)
    deadline = time.perf_counter() + args.max_seconds
    clock = FrozenClock(CLOCK_START)
    with use_clock(clock):
        async with LifespanManager(app):
            database: Database = app.state.db
            sql = SqlCounter()
            sql.attach(database)
            driver_sql = DriverCounter(sql)
            driver_sql.attach()
            database_name = make_url(database_url).database
            leftovers = await _drain_leftovers(database, clock)
            tenant = await _make_tenant(app, calls=args.calls)
            # What start-up built lives as long as the process: out of the collector's
            # generations, as the served app has it (``create_served_app``).
            gc.collect()
            gc.freeze()
            before_place = sql.snapshot()
            cpu_start = time.process_time()
            pg_start = _postgres_cpu_s(database_name)
            placed = await _place_through(
                app, tenant, calls=args.calls, concurrency=args.concurrency, deadline=deadline
            )
            after_place = sql.snapshot()
            cpu_placed = time.process_time()
            pg_placed = _postgres_cpu_s(database_name)
            dialed = await _dial_all(
                app, deadline=max(deadline, time.perf_counter() + args.max_seconds / 2)
            )
            after_dial = sql.snapshot()
            cpu_dialed = time.process_time()
            pg_dialed = _postgres_cpu_s(database_name)
            # Time the completion phase separately from any placement overrun.
            done = await _complete_all(
                database,
                clock,
                tenant.org_id,
                step_s=args.step,
                deadline=max(deadline, time.perf_counter() + args.max_seconds / 2),
            )
            after_complete = sql.snapshot()
            cpu_completed = time.process_time()
            pg_completed = _postgres_cpu_s(database_name)
            driver_sql.detach()
            checks = await _verify(database, tenant, placed.call_ids)
    ordered = sorted(placed.latencies_s)
    count = len(placed.call_ids)
    completed = checks["calls_by_status"].get("completed", 0)
    return {
        "calls": count,
        "placement_errors": len(ordered) - count,
        **({"placement_statuses": placed.statuses} if len(ordered) != count else {}),
        **({"first_placement_error": placed.first_error} if placed.first_error else {}),
        "place_s": round(placed.elapsed_s, 3),
        "placements_per_s": _rate(count, placed.elapsed_s),
        "place_p50_ms": ms(percentile(ordered, 0.50)),
        "place_p99_ms": ms(percentile(ordered, 0.99)),
        "sql_per_placement": _per(after_place[0] - before_place[0], count),
        "commits_per_placement": _per(after_place[1] - before_place[1], count),
        "connections_opened": after_complete[2],
        "complete_s": round(done.elapsed_s, 3),
        "completions_per_s": _rate(completed, done.elapsed_s),
        "dial_latency_ms": args.dial_latency_ms,
        "dial_s": round(dialed.elapsed_s, 3),
        "dials_per_s": _rate(dialed.dialed, dialed.elapsed_s),
        "sql_per_dial": _per(after_dial[0] - after_place[0], dialed.dialed),
        "sql_per_completion": _per(after_complete[0] - after_dial[0], completed),
        # This process's CPU (the app and the clients; PostgreSQL's own aside) per call.
        "cpu_ms_per_placement": _per(round((cpu_placed - cpu_start) * 1000), count),
        "cpu_ms_per_dial": _per(round((cpu_dialed - cpu_placed) * 1000), dialed.dialed),
        "cpu_ms_per_completion": _per(round((cpu_completed - cpu_dialed) * 1000), completed),
        # PostgreSQL's CPU per call: [the bench database's backends, all its processes].
        "pg_cpu_ms_per_placement": _pg_per(pg_start, pg_placed, count),
        "pg_cpu_ms_per_dial": _pg_per(pg_placed, pg_dialed, dialed.dialed),
        "pg_cpu_ms_per_completion": _pg_per(pg_dialed, pg_completed, completed),
        "advance_passes": done.passes,
        "clock_steps": done.clock_steps,
        "events_applied": done.moves,
        "all_completed": done.finished,
        "end_to_end_calls_per_s": _rate(
            completed, placed.elapsed_s + dialed.elapsed_s + done.elapsed_s
        ),
        "leftover_calls_drained": leftovers,
        **checks,
    }


# ------------------------------------------------------------------ pipelined (--workers)


async def _finished_calls(database: Database, org_id: str) -> int:
    async with database.sessionmaker() as session:
        statement = select(func.count()).where(
            Call.org_id == org_id, Call.status.not_in(lifecycle.ACTIVE)
        )
        return int(await session.scalar(statement) or 0)


def _shared_clock() -> float:
    """Seconds on a clock every process of the machine reads alike (``perf_counter``'s
    reference point is undefined across processes)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def _work(
    database_url: str,
    org_id: str,
    args: argparse.Namespace,
    placed: Any,
    release: Any,
    reports: Any,
) -> None:
    """One worker process: dial what was placed and play it to its end, until as many
    calls of ``org_id`` are over as the placer reports it placed; its figures are
    reported with its connections still open, which it closes once ``release`` is set
    (the bench reads PostgreSQL's CPU in between: a backend that exited earlier would
    have its whole life's CPU moved to the postmaster's reaped children)."""
    settings = _settings(database_url, args.calls)
    app = _app(settings, dial_latency_ms=args.dial_latency_ms)
    dial_clock = FrozenClock(CLOCK_START)
    done_clock = FrozenClock(CLOCK_START + timedelta(days=1))
    async with LifespanManager(app):
        database: Database = app.state.db
        runner = EffectRunner(database, services=app.state.job_services, batch=200, concurrency=64)
        gc.collect()
        gc.freeze()
        reports.put({"ready": os.getpid()})
        cpu_start = time.process_time()
        idle_cpu = 0.0  # passes that found nothing to do: waiting, not work
        deadline = time.perf_counter() + args.max_seconds
        done: dict[str, Any] = {"dialed": 0, "moves": 0, "passes": 0, "idle": 0, "finished": False}
        last_moved = _shared_clock()
        while time.perf_counter() < deadline:
            pass_cpu = time.process_time()
            with use_clock(dial_clock):
                dialed = await runner.run_once(only=[dialing.CONSUMER])
            with use_clock(done_clock):
                moved = await advance_simulated_calls(database, now=done_clock.now())
            done["passes"] += 1
            done["dialed"] += dialed
            done["moves"] += moved
            if dialed or moved:
                last_moved = _shared_clock()
                continue
            done["idle"] += 1
            target = placed.value
            finished = target >= 0 and await _finished_calls(database, org_id) >= target
            idle_cpu += time.process_time() - pass_cpu
            if finished:
                done["finished"] = True
                break
            await asyncio.sleep(0.005)
        busy = time.process_time() - cpu_start - idle_cpu
        reports.put({**done, "cpu_s": busy, "idle_cpu_s": idle_cpu, "last_moved": last_moved})
        await asyncio.to_thread(release.wait, args.max_seconds + 120)


def _spawned(work: Callable[..., Coroutine[Any, Any, None]], *arguments: Any) -> None:
    """``work(*arguments)`` in a spawned process (its third argument the bench's
    arguments, its last the queue it reports its figures on), or its error on that
    queue: the bench waits for one either way."""
    reports, args = arguments[-1], arguments[2]
    try:
        _run(work(*arguments), args.loop)
    except BaseException as exc:
        reports.put({"error": repr(exc)})
        raise


def _shares(total: int, parts: int) -> list[tuple[int, int]]:
    """``total`` split into ``parts`` as even as can be: (first index, count) each."""
    base, extra = divmod(total, parts)
    counts = [base + (1 if part < extra else 0) for part in range(parts)]
    return [(sum(counts[:part]), counts[part]) for part in range(parts)]


async def _place_share(
    database_url: str,
    tenant: Tenant,
    args: argparse.Namespace,
    share: tuple[int, int],
    concurrency: int,
    go: Any,
    release: Any,
    reports: Any,
) -> None:
    """One more API process: its own app places its ``share`` of the calls once ``go``
    is set (start-up is not timed), and reports as a worker does (see ``_work``)."""
    app = _app(_settings(database_url, args.calls), dial_latency_ms=args.dial_latency_ms)
    with use_clock(FrozenClock(CLOCK_START)):
        async with LifespanManager(app):
            gc.collect()
            gc.freeze()
            reports.put({"ready": os.getpid()})
            await asyncio.to_thread(go.wait, 120)
            cpu_start = time.process_time()
            placed = await _place_through(
                app,
                tenant,
                calls=share[1],
                concurrency=concurrency,
                deadline=time.perf_counter() + args.max_seconds,
                first=share[0],
            )
            reports.put(
                {
                    "placed": {**placed.__dict__, "ended": _shared_clock()},
                    "cpu_s": time.process_time() - cpu_start,
                }
            )
            await asyncio.to_thread(release.wait, args.max_seconds + 120)


async def _report(reports: Any, timeout_s: float) -> dict[str, Any]:
    report: dict[str, Any] = await asyncio.to_thread(reports.get, True, timeout_s)
    if "error" in report:
        raise RuntimeError(f"a worker process failed: {report['error']}")
    return report


async def _bench_pipelined(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    """Placement here while ``--workers`` processes dial and complete (see the docstring)."""
    if make_url(database_url).get_backend_name() != "postgresql":
        raise SystemExit("--workers needs --database-url on PostgreSQL (one writer on SQLite)")
    settings = _settings(database_url, args.calls)
    app = _app(settings, dial_latency_ms=args.dial_latency_ms)
    clock = FrozenClock(CLOCK_START)
    spawn = multiprocessing.get_context("spawn")
    placed_count = spawn.Value("i", -1)
    release = spawn.Event()  # PostgreSQL's CPU is read: spawned processes may disconnect
    reports = spawn.Queue()
    with use_clock(clock):
        async with LifespanManager(app):
            database: Database = app.state.db
            sql = SqlCounter()
            sql.attach(database)
            DriverCounter(sql).attach()  # this process's, as in _bench
            database_name = make_url(database_url).database
            leftovers = await _drain_leftovers(database, clock)
            tenant = await _make_tenant(app, calls=args.calls)
            workers = [
                spawn.Process(
                    target=_spawned,
                    args=(_work, database_url, tenant.org_id, args, placed_count, release, reports),
                    daemon=True,
                )
                for _ in range(args.workers)
            ]
            for worker in workers:
                worker.start()
            # This process places the first share; each other placer process one more.
            shares = _shares(args.calls, args.placers)
            in_flight = _shares(args.concurrency, args.placers)
            go = spawn.Event()
            placer_reports = spawn.Queue()
            placers = [
                spawn.Process(
                    target=_spawned,
                    args=(
                        _place_share,
                        database_url,
                        tenant,
                        args,
                        share,
                        clients,
                        go,
                        release,
                        placer_reports,
                    ),
                    daemon=True,
                )
                for share, (_, clients) in zip(shares[1:], in_flight[1:], strict=True)
            ]
            for placer in placers:
                placer.start()
            for _ in workers:  # each has started its app: start-up is not timed
                await _report(reports, 120)
            for _ in placers:
                await _report(placer_reports, 120)
            gc.collect()
            gc.freeze()
            before = sql.snapshot()
            cpu_start = time.process_time()
            pg_start = _postgres_cpu_s(database_name)
            started = _shared_clock()
            go.set()
            placed = await _place_through(
                app,
                tenant,
                calls=shares[0][1],
                concurrency=in_flight[0][1],
                deadline=time.perf_counter() + args.max_seconds,
            )
            placed_until = _shared_clock()
            mine = list(placed.call_ids)
            after = sql.snapshot()
            cpu_placed = time.process_time()
            others = [await _report(placer_reports, args.max_seconds + 60) for _ in placers]
            for other in others:
                placed.call_ids += other["placed"]["call_ids"]
                placed.latencies_s += other["placed"]["latencies_s"]
                for code, seen in other["placed"]["statuses"].items():
                    placed.statuses[code] = placed.statuses.get(code, 0) + seen
                placed.first_error = placed.first_error or other["placed"]["first_error"]
                placed_until = max(placed_until, other["placed"]["ended"])
            placed_count.value = len(placed.call_ids)
            done = [await _report(reports, args.max_seconds + 60) for _ in workers]
            pg_end = _postgres_cpu_s(database_name)
            release.set()
            for process in (*workers, *placers):
                process.join(30)
            checks = await _verify(database, tenant, placed.call_ids)
    count = len(placed.call_ids)
    completed = checks["calls_by_status"].get("completed", 0)
    wall_s = max(report["last_moved"] for report in done) - started
    place_s = placed_until - started
    placing_cpu_s = cpu_placed - cpu_start + sum(other["cpu_s"] for other in others)
    ordered = sorted(placed.latencies_s)
    return {
        "workers": args.workers,
        "placers": args.placers,
        "calls": count,
        "placement_errors": len(ordered) - count,
        **({"first_placement_error": placed.first_error} if placed.first_error else {}),
        "place_s": round(place_s, 3),
        "placements_per_s": _rate(count, place_s),
        "place_p50_ms": ms(percentile(ordered, 0.50)),
        "place_p99_ms": ms(percentile(ordered, 0.99)),
        # Statements counted in this process only (its share of the placements).
        "sql_per_placement": _per(after[0] - before[0], len(mine)),
        "wall_s": round(wall_s, 3),
        "pipelined_calls_per_s": _rate(completed, wall_s),
        "cpu_ms_per_placement": _per(round(placing_cpu_s * 1000), count),
        "worker_cpu_ms_per_call": _per(round(sum(r["cpu_s"] for r in done) * 1000), completed),
        "pg_cpu_ms_per_call": _pg_per(pg_start, pg_end, completed),
        "dialed": sum(r["dialed"] for r in done),
        "events_applied": sum(r["moves"] for r in done),
        "worker_passes": sum(r["passes"] for r in done),
        # Passes that found nothing to do (waiting for placements), left out of the CPU above.
        "worker_idle_passes": sum(r["idle"] for r in done),
        "worker_idle_cpu_ms": round(sum(r["idle_cpu_s"] for r in done) * 1000),
        "all_completed": all(r["finished"] for r in done),
        "leftover_calls_drained": leftovers,
        **checks,
    }


# ------------------------------------------------------------------ main


def _run(coro: Coroutine[Any, Any, T], loop: str) -> T:
    """Run on uvloop, as ``uvicorn[standard]`` serves commbase, or on plain asyncio."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="calls to place")
    parser.add_argument("--concurrency", type=int, default=32, help="placements in flight")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--step", type=float, default=300.0, help="clock seconds per simulator step"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop placing after")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--dial-latency-ms", type=float, default=0.0, help="time each dial takes at the carrier"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes dialing and completing while placing (0: phases in turn)",
    )
    parser.add_argument(
        "--placers",
        type=int,
        default=1,
        help="with --workers: API processes placing the calls, this one included",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= MAX_CONCURRENT_CALLS:
        parser.error(f"--calls must be 1..{MAX_CONCURRENT_CALLS} (all are active at once)")
    if args.concurrency < 1 or args.step <= 0 or args.max_seconds <= 0:
        parser.error("--concurrency, --step and --max-seconds must be positive")
    if args.dial_latency_ms < 0 or args.workers < 0:
        parser.error("--dial-latency-ms and --workers cannot be negative")
    if args.placers < 1 or (args.placers > 1 and not args.workers):
        parser.error("--placers must be 1 or more, more than 1 only with --workers")
    if args.placers > args.concurrency:
        parser.error("--placers cannot exceed --concurrency (each places with its own clients)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with tempfile.TemporaryDirectory(prefix="commbase-bench-calls-") as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        created = prepare_database(database_url)
        load_before = os.getloadavg()[0]
        bench = _bench_pipelined if args.workers else _bench
        figures = _run(bench(args, database_url), args.loop)
    result = {
        "bench": "calls",
        "database": make_url(database_url).get_backend_name(),
        "database_created": created,
        "concurrency": args.concurrency,
        "loop": args.loop,
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0 if figures["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
