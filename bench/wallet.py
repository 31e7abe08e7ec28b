"""Many concurrent clients charging one wallet: debits/s, with the books checked exact.

    .venv/bin/python bench/wallet.py [--concurrency 32] [--debits 20000] [--max-seconds 120]
                                     [--database-url URL] [--no-idempotency-key]
                                     [--synchronous-commit on|off] [--ceiling-seconds 5]
                                     [--loop uvloop|asyncio] [--modes single,grouped,calls]

The default database is PostgreSQL ``cb_bench_wallet`` on 127.0.0.1, created when
missing and migrated (``commbase.cli.migrate_database``); ``--database-url
sqlite+aiosqlite:///path.db`` runs the same on SQLite. Each run makes a fresh
organization and a wallet funded through ``billing.service.credit``, then
``--concurrency`` workers in this process share ``--debits`` debits of 1..99
cents (after ``--warmup`` untimed ones), stopping early at ``--max-seconds``.
Two production paths, each on its own fresh wallet, one after the other in the
same run (``--modes``; figures under ``single`` and ``grouped``):

* ``single``: every debit in its own session and transaction, ``get_wallet``,
  ``billing.service.debit`` (conditional ``UPDATE ... RETURNING``, ledger row,
  ``wallet.debited`` outbox event, idempotency key) and a commit;
* ``grouped``: ``billing.grouped.GroupedDebits.debit`` on the process's instance
  (``GroupedDebits.of(database)``, the one the app's call charges use:
  ``billing.service.charge_call`` sends a finished call's charge through the same
  group, ``GroupedDebits.capture_call``), where the debits of the wallet that
  arrive while one of its transactions is in flight share the next (one row
  lock, one balance update, one multi-row insert of ledger rows and of events,
  one commit);
* ``calls``: finished calls charged through ``GroupedDebits.capture_call`` (what
  ``billing.service.charge_call`` does on PostgreSQL): each call's hold (60 min at
  0.02 USD/min) is placed before the clock starts (one update of ``held`` by their
  total, the state ``hold_for_call`` leaves), then each capture charges 1..49
  billable minutes from money and releases its hold in the group.

``hot_wallet_debits_per_s`` is the issue's figure: debits/s on one hot wallet for
each timed path, ``exact`` whether every path's books came out exact.
``cpu_ms_per_debit`` is this process's CPU (Python, driver) per timed debit, which
the machine's load disturbs less than the rate.

Afterwards the wallet must hold exactly ``start - sum(debits)`` with nothing held
(for ``calls``: every hold released),
the ledger must have one debit row per successful debit summing to the same
amount and chaining ``balance_before -> balance_after`` from the start balance to
the final one, and the outbox one ``wallet.debited`` event per debit.

Diagnostics: ``sql_per_debit`` counts the statements each debit sends (BEGIN,
COMMIT and the pool's pre-ping aside); on PostgreSQL ``hot_row_ceiling_per_s``
is what bare ``BEGIN; UPDATE one row; COMMIT`` transactions reach at the same
concurrency, the most any one-commit-per-debit design could do on this machine;
``--synchronous-commit off`` (this process's sessions only) shows what is left
once commits stop waiting for the WAL flush.

Prints one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from commbase.billing import events
from commbase.billing import service as billing_service
from commbase.billing.grouped import GroupedDebits
from commbase.billing.holds import Hold
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core.db import Database
from commbase.core.ids import new_id
from commbase.core.money import cost_of
from commbase.core.outbox import OutboxEvent
from commbase.identity import service as identity_service

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import SqlCounter, ms, percentile, prepare_database, run
from bench._hot_row import hot_row_ceiling

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_wallet"
MAX_AMOUNT = 99
CALL_RATE = Decimal("0.02")  # USD per minute: 1..49 billable minutes cost 2..98 cents
CALL_MAX_MINUTES = 60
MAX_CALL_MINUTES = 49
MODES = ("single", "grouped", "calls")
LATENCY_SAMPLES_KEPT = 200_000
T = TypeVar("T")


# ------------------------------------------------------------------ the run


@dataclass
class Run:
    org_id: str
    wallet_id: str
    start_balance: int
    key_prefix: str | None
    amounts: list[int]
    call_hold: Hold | None = None
    next_index: int = 0
    succeeded: int = 0
    debited: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


async def _setup(database: Database, *, start_balance: int, use_keys: bool) -> Run:
    async with database.sessionmaker() as session:
        org = await identity_service.create_organization(
            session, name=f"Bench wallet {new_id('run')[-10:].lower()}"
        )
        wallet = await billing_service.create_wallet(
            session, org_id=org.id, owner_type="organization", owner_id=org.id, currency="USD"
        )
        await billing_service.credit(
            session,
            wallet=wallet,
            amount=start_balance,
            posting=billing_service.Posting(type="credit", category="wallet_topup"),
        )
        await session.commit()
        key_prefix = f"bench:{wallet.id}:" if use_keys else None
        return Run(org.id, wallet.id, start_balance, key_prefix, amounts=[])


async def _hold_calls(database: Database, run: Run, calls: int) -> None:
    """The holds of ``calls`` calls in progress, placed at once: ``held`` grows by
    their total, as ``holds.hold_for_call`` leaves it after each call's hold."""
    hold = Hold(cost_of(CALL_MAX_MINUTES, CALL_RATE, "USD"), 0, CALL_MAX_MINUTES)
    async with database.sessionmaker() as session:
        wallet = await session.get(Wallet, run.wallet_id, with_for_update=True)
        assert wallet is not None
        wallet.held += hold.amount * calls
        await session.commit()
    run.call_hold = hold


async def _one_debit(
    database: Database, run: Run, index: int, grouped: GroupedDebits | None
) -> int:
    """One debit (or call charge); returns the minor units taken."""
    amount = run.amounts[index]
    key = f"{run.key_prefix}{index}" if run.key_prefix else None
    if grouped is not None and run.call_hold is not None:
        entry = await grouped.capture_call(
            org_id=run.org_id,
            wallet_id=run.wallet_id,
            call_id=f"call_bench_{run.wallet_id[-12:]}_{index}",
            hold=run.call_hold,
            billable_minutes=amount,
            rate_per_minute=CALL_RATE,
            user_id=None,
            agent_session_id=None,
        )
        assert entry is not None
        return entry.amount
    if grouped is not None:
        await grouped.debit(
            org_id=run.org_id,
            wallet_id=run.wallet_id,
            amount=amount,
            posting=billing_service.Posting(
                type="debit", category="call_charge", idempotency_key=key, description="bench"
            ),
        )
        return amount
    async with database.sessionmaker() as session:
        wallet = await billing_service.get_wallet(
            session, org_id=run.org_id, wallet_id=run.wallet_id
        )
        await billing_service.debit(
            session,
            wallet=wallet,
            amount=amount,
            posting=billing_service.Posting(
                type="debit", category="call_charge", idempotency_key=key, description="bench"
            ),
        )
        await session.commit()
    return amount


async def _drive(
    database: Database,
    run: Run,
    *,
    stop_at: int,
    concurrency: int,
    deadline: float,
    timed: bool,
    grouped: GroupedDebits | None,
) -> float:
    """Workers take debit numbers until ``stop_at`` or the deadline; returns seconds spent."""

    async def worker() -> None:
        while run.next_index < stop_at and time.perf_counter() < deadline:
            index = run.next_index
            run.next_index += 1
            started = time.perf_counter()
            try:
                taken = await _one_debit(database, run, index, grouped)
            except Exception as exc:
                name = type(exc).__name__
                run.errors[name] = run.errors.get(name, 0) + 1
                continue
            if timed and len(run.latencies_s) < LATENCY_SAMPLES_KEPT:
                run.latencies_s.append(time.perf_counter() - started)
            run.succeeded += 1
            run.debited += taken

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _verify(database: Database, run: Run) -> dict[str, Any]:
    async with database.sessionmaker() as session:
        wallet = await session.get(Wallet, run.wallet_id)
        assert wallet is not None
        rows, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                    LedgerEntry.wallet_id == run.wallet_id, LedgerEntry.type == "debit"
                )
            )
        ).one()
        chain = (
            await session.execute(
                select(LedgerEntry.balance_before, LedgerEntry.balance_after)
                .where(LedgerEntry.wallet_id == run.wallet_id, LedgerEntry.type == "debit")
                .order_by(LedgerEntry.balance_before.desc())
            )
        ).all()
        debited_events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.org_id == run.org_id, OutboxEvent.type == events.WALLET_DEBITED)
        )
    # Each debit takes at least a cent, so balances fall strictly and the rows,
    # ordered by balance_before, must link start -> ... -> final without a gap.
    linked = run.start_balance
    chain_ok = True
    for before, after in chain:
        if before != linked or after >= before:
            chain_ok = False
            break
        linked = after
    chain_ok = chain_ok and linked == wallet.balance
    expected = run.start_balance - run.debited
    exact = (
        wallet.balance == expected
        and wallet.held == 0
        and int(rows) == run.succeeded
        and int(total) == run.debited
        and int(debited_events or 0) == run.succeeded
        and chain_ok
    )
    return {
        "start_balance": run.start_balance,
        "sum_debits": run.debited,
        "expected_balance": expected,
        "final_balance": wallet.balance,
        "held": wallet.held,
        "ledger_debit_rows": int(rows),
        "ledger_debit_sum": int(total),
        "ledger_chain_ok": chain_ok,
        "outbox_debited_events": int(debited_events or 0),
        "exact": exact,
    }


def _relax_durability(database: Database) -> None:
    """``synchronous_commit = off`` on this process's connections only (a diagnostic:
    commits stop waiting for the WAL flush, so a crash could lose the last few)."""

    @event.listens_for(database.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit TO off")
        cursor.close()


async def _phase(
    database: Database, sql: SqlCounter, args: argparse.Namespace, *, mode: str
) -> dict[str, Any]:
    """One fresh wallet debited ``--warmup`` + ``--debits`` times by one path."""
    debiter = None if mode == "single" else GroupedDebits.of(database)
    total = args.warmup + args.debits
    run = await _setup(
        database, start_balance=total * MAX_AMOUNT + 1_000_000, use_keys=args.idempotency_key
    )
    rng = random.Random(args.seed)
    top = MAX_CALL_MINUTES if mode == "calls" else MAX_AMOUNT
    run.amounts = [rng.randint(1, top) for _ in range(total)]
    if mode == "calls":
        await _hold_calls(database, run, total)
    deadline = time.perf_counter() + args.max_seconds
    drive = {"concurrency": args.concurrency, "deadline": deadline, "grouped": debiter}
    # Warm-up: open the pool's connections and the statement caches; not timed.
    await _drive(database, run, stop_at=args.warmup, timed=False, **drive)
    warm_ok, warm_errors = run.succeeded, sum(run.errors.values())
    statements_before, commits_before, _ = sql.snapshot()
    cpu_before = time.process_time()
    elapsed = await _drive(database, run, stop_at=total, timed=True, **drive)
    if debiter is not None:
        await debiter.close()
    cpu_s = time.process_time() - cpu_before
    timed_ok = run.succeeded - warm_ok
    statements = sql.statements - statements_before
    commits = sql.commits - commits_before
    timed_errors = sum(run.errors.values()) - warm_errors
    ordered = sorted(run.latencies_s)
    checks = await _verify(database, run)
    return {
        "debits": timed_ok,
        "errors": timed_errors + warm_errors,
        **({"error_types": run.errors} if run.errors else {}),
        "warmup_debits": warm_ok,
        "elapsed_s": round(elapsed, 3),
        "debits_per_s": round(timed_ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": ms(percentile(ordered, 0.50)),
        "p99_ms": ms(percentile(ordered, 0.99)),
        "mean_ms": ms(sum(ordered) / len(ordered) if ordered else None),
        "max_ms": ms(ordered[-1] if ordered else None),
        "stopped_by_time": run.next_index < total,
        "cpu_ms_per_debit": round(cpu_s * 1000 / timed_ok, 3) if timed_ok else None,
        "sql_per_debit": round(statements / timed_ok, 2) if timed_ok else None,
        "debits_per_commit": round(timed_ok / commits, 1) if commits else None,
        **checks,
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    database = Database(args.database_url)
    if not args.synchronous_commit:
        _relax_durability(database)
    sql = SqlCounter()
    sql.attach(database)
    database.own_pool()  # the group commits' engine: count its statements too
    sql.attach(cast(Database, SimpleNamespace(engine=database._own_engine)))
    try:
        phases = {mode: await _phase(database, sql, args, mode=mode) for mode in args.modes}
        ceiling = None
        if args.ceiling_seconds > 0 and database.dialect == "postgresql":
            ceiling = await hot_row_ceiling(
                args.database_url,
                concurrency=args.concurrency,
                seconds=args.ceiling_seconds,
                synchronous_commit=args.synchronous_commit,
            )
        return {
            "hot_wallet_debits_per_s": {
                mode: phase["debits_per_s"] for mode, phase in phases.items()
            },
            "exact": all(phase["exact"] for phase in phases.values()),
            **phases,
            "pool": type(database.engine.pool).__name__,
            "connections_opened": sql.connects,
            "hot_row_ceiling_per_s": None if ceiling is None else round(ceiling, 1),
        }
    finally:
        await database.dispose()


# ------------------------------------------------------------------ main


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--concurrency", type=int, default=32, help="clients debiting at once")
    parser.add_argument("--debits", type=int, default=20_000, help="timed debits in total")
    parser.add_argument("--warmup", type=int, default=200, help="untimed debits first")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop after this")
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=5.0,
        help="PostgreSQL: also time bare one-row UPDATE+COMMIT transactions (0: skip)",
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--seed", type=int, default=7, help="for the debit amounts")
    parser.add_argument(
        "--modes",
        default="single,grouped",
        help="comma-separated paths to time in this order: single, grouped, calls",
    )
    parser.add_argument(
        "--no-idempotency-key",
        dest="idempotency_key",
        action="store_false",
        help="debit without idempotency keys (skips the existing-key lookup)",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="PostgreSQL only: 'off' shows the ceiling without waiting for the WAL flush",
    )
    args = parser.parse_args(argv)
    args.synchronous_commit = args.synchronous_commit == "on"
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes takes {', '.join(MODES)}")
    if args.synchronous_commit is False and args.database_url.startswith("sqlite"):
        parser.error("--synchronous-commit off is for PostgreSQL")
    if args.concurrency < 1 or args.debits < 1 or args.warmup < 0 or args.max_seconds <= 0:
        parser.error("--concurrency, --debits and --max-seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    created = prepare_database(args.database_url)
    load_before = os.getloadavg()[0]
    figures = run(_bench(args), args.loop)
    result = {
        "bench": "wallet",
        "database": make_url(args.database_url).get_backend_name(),
        "database_created": created,
        "concurrency": args.concurrency,
        "loop": args.loop,
        "idempotency_keys": args.idempotency_key,
        "synchronous_commit": args.synchronous_commit,
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0 if figures["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
