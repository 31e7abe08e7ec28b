"""The chaos run's figures: what the database holds afterwards, what clients saw in
each fault window, and the checks (see ``bench/chaos.py``)."""

from __future__ import annotations

import argparse
import os
from collections import Counter, defaultdict
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench._chaos_load import IN_USE, Attempt, Fault, Observed
from bench._common import ms, percentile
from commbase.settings import Settings

# A duplicate webhook whose first copy arrived this close before a worker was killed
# was in flight at the kill: sent, but its success not yet recorded.
IN_FLIGHT_BEFORE_KILL_S = 15.0


# ------------------------------------------------------------------ the database's view


async def expected_events(database: asyncpg.Connection, setup: dict[str, Any]) -> dict[str, str]:
    """Outbox events the endpoint must hear: the organization's, of a public type,
    recorded from the endpoint's creation on; id -> type."""
    rows = await database.fetch(
        "SELECT e.id, e.type FROM outbox_events e, webhook_endpoints w "
        "WHERE w.id = $1 AND e.org_id = w.org_id AND e.created_at >= w.created_at "
        "AND e.type = ANY($2::text[])",
        setup["endpoint_id"],
        setup["event_types"],
    )
    return {row["id"]: row["type"] for row in rows}


async def database_state(db: asyncpg.Connection, setup: dict[str, Any]) -> dict[str, Any]:
    org = setup["org_id"]
    calls = await db.fetch(
        "SELECT id, status, idempotency_key, metadata->>'ticket_id' AS ref, cost_amount, "
        "ledger_entry_id FROM calls WHERE org_id = $1",
        org,
    )
    charges = await db.fetch(
        "SELECT id, related_call_id, amount FROM ledger_entries "
        "WHERE org_id = $1 AND category = 'call_charge' AND status = 'completed'",
        org,
    )
    ledger = await db.fetch(
        "SELECT wallet_id, type, amount, balance_before, balance_after FROM ledger_entries "
        "WHERE org_id = $1 AND status = 'completed'",
        org,
    )
    wallets = await db.fetch("SELECT id, balance, held FROM wallets WHERE org_id = $1", org)
    stored_events = {
        r["event_id"]
        for r in await db.fetch("SELECT event_id FROM tracked_events WHERE org_id = $1", org)
    }
    snapshots = await db.fetch(
        "SELECT snapshot_type, count(*) AS n, "
        "count(DISTINCT (org_id, account_id, period_start, snapshot_type)) AS distinct_n "
        "FROM analytics_snapshots GROUP BY snapshot_type"
    )
    doubled_slots = await db.fetch(
        "SELECT job_name, scheduled_for, org_id, count(*) AS n FROM job_runs "
        "WHERE trigger = 'schedule' GROUP BY job_name, scheduled_for, org_id HAVING count(*) > 1"
    )
    job_runs = await db.fetch(
        "SELECT job_name, status, count(*) AS n FROM job_runs WHERE trigger = 'schedule' "
        "GROUP BY job_name, status"
    )
    failed_jobs = await db.fetch(
        "SELECT job_name, error FROM job_runs WHERE status = 'failed' ORDER BY started_at LIMIT 10"
    )
    usage = await db.fetch(
        "SELECT id, total_requests FROM api_keys WHERE id = ANY($1::text[])",
        list(setup["key_ids"].values()),
    )
    deliveries = await db.fetch(
        "SELECT status, count(*) AS n, sum(attempts) AS attempts FROM webhook_deliveries "
        "WHERE org_id = $1 GROUP BY status",
        org,
    )
    idempotency = await db.fetch(
        "SELECT state, count(*) AS n FROM idempotency_keys WHERE org_id = $1 OR org_id IS NULL "
        "GROUP BY state",
        org,
    )
    return {
        "calls": [dict(r) for r in calls],
        "charges": [dict(r) for r in charges],
        "ledger": [dict(r) for r in ledger],
        "wallets": [dict(r) for r in wallets],
        "stored_events": stored_events,
        "expected_events": await expected_events(db, setup),
        "snapshots": {r["snapshot_type"]: (r["n"], r["distinct_n"]) for r in snapshots},
        "doubled_slots": [
            f"{r['job_name']} @ {r['scheduled_for']:%H:%M:%S} org={r['org_id']} x{r['n']}"
            for r in doubled_slots
        ],
        "job_runs": {f"{r['job_name']}:{r['status']}": r["n"] for r in job_runs},
        "failed_jobs": [f"{r['job_name']}: {(r['error'] or '')[:120]}" for r in failed_jobs],
        "usage": {r["id"]: r["total_requests"] for r in usage},
        "deliveries": {r["status"]: [r["n"], r["attempts"]] for r in deliveries},
        "idempotency_keys": {r["state"]: r["n"] for r in idempotency},
    }


# ------------------------------------------------------------------ figures


def _latency(attempts: list[Attempt]) -> dict[str, float | None]:
    answered = sorted(a.end - a.start for a in attempts if a.status is not None)
    return {
        "p50_ms": ms(percentile(answered, 0.5)),
        "p99_ms": ms(percentile(answered, 0.99)),
        "max_ms": ms(answered[-1] if answered else None),
    }


def _statuses(attempts: list[Attempt]) -> dict[str, int]:
    counted = Counter(
        "no answer"
        if a.status is None
        else str(a.status) + (" in-use" if a.problem == IN_USE else "")
        for a in attempts
    )
    return dict(sorted(counted.items()))


def _window(seen: Observed, start: float, end: float) -> dict[str, Any]:
    """What clients saw for requests started in [start, end)."""
    return _figures([a for a in seen.attempts if start <= a.start < end], seen, start, end)


def _figures(inside: list[Attempt], seen: Observed, start: float, end: float) -> dict[str, Any]:
    api = [a for a in inside if a.kind != "ready"]
    figures: dict[str, Any] = {
        "requests": len(api),
        "succeeded": sum(1 for a in api if a.status is not None and a.status < 300),
        "status_500": sum(1 for a in api if a.status == 500),
        "status_503": sum(1 for a in api if a.status == 503),
        "status_503_with_retry_after": sum(1 for a in api if a.status == 503 and a.retry_after),
        "no_answer": sum(1 for a in api if a.status is None),
    }
    figures["success_rate"] = round(figures["succeeded"] / len(api), 4) if api else None
    for kind in ("call", "track", "read"):
        of_kind = [a for a in api if a.kind == kind]
        figures[kind] = {"statuses": _statuses(of_kind), **_latency(of_kind)}
    figures["readyz"] = _statuses([a for a in inside if a.kind == "ready"])
    figures["problems"] = dict(
        Counter(f"{a.status} {a.problem}" for a in api if a.status is not None and a.status >= 400)
    )
    failed = [a.end for a in api if a.status is None or a.status >= 500]
    figures["last_failure_after_start_s"] = round(max(failed) - start, 1) if failed else None
    load = [value for t, value in seen.loadavg if start <= t < end]
    figures["loadavg_1m_max"] = max(load) if load else None
    return figures


def _locked_keys(seen: Observed, faults: list[Fault], grace_s: float) -> dict[str, Any]:
    """After a call attempt that failed, how long its key answered 409
    ``idempotency-key-in-use`` before it could be used again: after a 5xx (the server
    knew the request failed: its key must be free at once), and after no answer (the
    process died holding the key, or the client stopped waiting)."""
    by_key: dict[str, list[Attempt]] = defaultdict(list)
    for a in seen.attempts:
        if a.kind == "call" and a.key is not None:
            by_key[a.key].append(a)
    failures: Counter[str] = Counter()
    in_use: Counter[str] = Counter()
    # failure kind -> [(seconds locked, the fault it fell in, still locked at give-up)]
    locked: dict[str, list[tuple[float, str, bool]]] = {"5xx": [], "no answer": []}
    for attempts in by_key.values():
        attempts.sort(key=lambda a: a.start)
        failed: tuple[str, float] | None = None  # (kind, when its answer came or not)
        last_in_use: float | None = None
        for a in attempts:
            if a.problem == IN_USE:
                in_use[failed[0] if failed else "none"] += 1
                last_in_use = a.end
                continue
            if failed is not None and last_in_use is not None:
                fault = _fault_at(faults, failed[1], grace_s)
                locked[failed[0]].append((a.start - failed[1], fault, False))
            failed, last_in_use = None, None
            if a.status is None or a.status >= 500:
                failed = ("no answer" if a.status is None else "5xx", a.end)
                failures[failed[0]] += 1
        if failed is not None and last_in_use is not None:  # the client gave up first
            fault = _fault_at(faults, failed[1], grace_s)
            locked[failed[0]].append((last_in_use - failed[1], fault, True))
    figures: dict[str, Any] = {"in_use_409_without_a_failure": in_use["none"]}
    for kind, episodes in locked.items():
        seconds = sorted(s for s, _, _ in episodes)
        figures[f"after_{kind.replace(' ', '_')}"] = {
            "failed_attempts": failures[kind],
            "in_use_409": in_use[kind],
            "keys_locked": len(episodes),
            "still_locked_at_give_up": sum(1 for *_, stuck in episodes if stuck),
            "locked_s_p50": round(percentile(seconds, 0.5) or 0, 1) if seconds else None,
            "locked_s_max": round(seconds[-1], 1) if seconds else None,
            "by_fault": dict(Counter(fault for _, fault, _ in episodes)),
        }
    return figures


def _fault_at(faults: list[Fault], t: float, grace_s: float) -> str:
    for fault in faults:
        if fault.start <= t < fault.end + grace_s:
            return fault.name
    return "none"


def _webhooks(
    receipts: list[list[Any]], expected: dict[str, str], faults: list[Fault], t0: float
) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = defaultdict(list)
    unverified = 0
    for webhook_id, _type, arrived, verified in receipts:
        arrivals[webhook_id].append(arrived)
        unverified += not verified
    missing = sorted(set(expected) - set(arrivals))
    kills = [f.start for f in faults if f.name == "worker"]
    duplicates = []
    for webhook_id, times in arrivals.items():
        if len(times) < 2:
            continue
        times.sort()
        at_kill = any(k - IN_FLIGHT_BEFORE_KILL_S <= times[0] <= k + 1.0 for k in kills)
        duplicates.append(
            {
                "webhook_id": webhook_id,
                "type": expected.get(webhook_id),
                "copies": len(times),
                "arrived_s": [round(t - t0, 1) for t in times],
                "in_flight_at_worker_kill": at_kill,
                "first_copy_during": _fault_at(faults, times[0], 5.0),
            }
        )
    duplicates.sort(key=lambda d: str(d["webhook_id"]))
    return {
        "expected": len(expected),
        "received": len(receipts),
        "unique": len(arrivals),
        "missing": len(missing),
        "missing_ids": missing[:20],
        "unexpected": len(set(arrivals) - set(expected)),
        "signature_failures": unverified,
        "duplicates": len(duplicates),
        "duplicates_in_flight_at_worker_kill": sum(
            d["in_flight_at_worker_kill"] for d in duplicates
        ),
        "duplicate_list": duplicates[:50],
    }


def _money(state: dict[str, Any]) -> dict[str, Any]:
    calls = {c["id"]: c for c in state["calls"]}
    per_call = Counter(c["related_call_id"] for c in state["charges"])
    charged_twice = sorted(call for call, n in per_call.items() if n > 1)
    uncharged = sorted(
        c["id"] for c in calls.values() if (c["cost_amount"] or 0) > 0 and per_call[c["id"]] == 0
    )
    wrong_amount = sorted(
        ch["related_call_id"]
        for ch in state["charges"]
        if ch["related_call_id"] in calls
        and calls[ch["related_call_id"]]["cost_amount"] != ch["amount"]
    )
    wallets = []
    for wallet in state["wallets"]:
        rows = [r for r in state["ledger"] if r["wallet_id"] == wallet["id"]]
        credits = sum(r["amount"] for r in rows if r["balance_after"] > r["balance_before"])
        debits = sum(r["amount"] for r in rows if r["balance_after"] < r["balance_before"])
        inconsistent = sum(
            1 for r in rows if abs(r["balance_after"] - r["balance_before"]) != r["amount"]
        )
        wallets.append(
            {
                "wallet_id": wallet["id"],
                "balance": wallet["balance"],
                "held": wallet["held"],
                "credits": credits,
                "debits": debits,
                "adds_up": wallet["balance"] == credits - debits and not inconsistent,
                "rows_whose_step_is_not_their_amount": inconsistent,
            }
        )
    return {
        "call_charges": len(state["charges"]),
        "calls_charged_twice": charged_twice,
        "calls_with_cost_but_no_charge": uncharged[:20],
        "charges_not_matching_the_cost": wrong_amount[:20],
        "wallets": wallets,
    }


def _usage(
    seen: Observed, setup: dict[str, Any], counted: dict[str, int], faults: list[Fault]
) -> dict[str, Any]:
    """Each key's ``total_requests`` against its successful requests. A process keeps
    counts in memory up to COMMBASE_USAGE_FLUSH_S (where that setting exists): those the
    killed API process answered in that time before its SIGKILL may be gone with it."""
    flush = Settings.model_fields.get("usage_flush_s")
    flush_s = float(flush.default) if flush is not None else 0.0
    kill = next((f.start for f in faults if f.name == "api"), None)
    kinds = {"calls": "call", "track": "track", "read": "read"}
    figures = {}
    for name, key_id in setup["key_ids"].items():
        mine = [a for a in seen.attempts if a.kind == kinds[name]]
        ok = [a for a in mine if a.status is not None and a.status < 300]
        total = int(counted.get(key_id, 0))
        at_risk = (
            0
            if kill is None
            else sum(1 for a in ok if a.process == 0 and kill - flush_s <= a.end <= kill)
        )
        figures[name] = {
            "answered": sum(1 for a in mine if a.status is not None),
            "succeeded": len(ok),
            "total_requests": total,
            "lost": max(0, len(ok) - total),
            "answered_by_the_killed_api_in_its_last_flush_interval": at_risk,
        }
    return figures


def report(
    args: argparse.Namespace,
    t0: float,
    outcome: dict[str, Any],
    state: dict[str, Any],
    errors_logged: dict[str, dict[str, int]],
) -> dict[str, Any]:
    seen: Observed = outcome["seen"]
    faults = seen.faults
    attempts = seen.attempts
    load_end = outcome["load_end"]
    grace = args.grace_s

    windows = []
    for fault in faults:
        figures = _window(seen, fault.start, fault.end + grace)
        if fault.name == "api":  # the first API process (index 0) is the one killed
            figures["cut_off_at_the_kill"] = sum(
                1
                for a in attempts
                if a.kind != "ready" and a.process == 0 and a.status is None
                and a.start <= fault.start <= a.end + 0.5
            )  # fmt: skip
        windows.append(
            {
                "fault": fault.name,
                "what": fault.note,
                "at_s": round(fault.start - t0, 1),
                "lasted_s": round(fault.end - fault.start, 1),
                "window_s": round(fault.end + grace - fault.start, 1),
                **figures,
            }
        )
    quiet = [
        a for a in attempts if a.start < load_end and _fault_at(faults, a.start, grace) == "none"
    ]
    baseline = _figures(quiet, seen, t0, load_end)

    calls_db = {c["id"]: c for c in state["calls"]}
    refs = Counter(c["ref"] for c in state["calls"])
    statuses = Counter(c["status"] for c in state["calls"])
    lost_calls = sorted(cid for cid in seen.calls.values() if cid not in calls_db)
    doubled_by_ref = sorted(ref for ref, n in refs.items() if ref and n > 1)
    doubled_by_key = sorted(k for k, ids in seen.call_ids_by_key.items() if len(ids) > 1)
    events_missing = sorted(seen.events_accepted - state["stored_events"])
    webhooks = _webhooks(outcome["receipts"], state["expected_events"], faults, t0)
    money = _money(state)
    snapshots = {t: {"rows": n, "distinct": d} for t, (n, d) in state["snapshots"].items()}
    keys = _locked_keys(seen, faults, grace)
    usage = _usage(seen, outcome["setup"], state["usage"], faults)

    redis = next((f for f in faults if f.name == "redis"), None)
    redis_window = _window(seen, redis.start, redis.end) if redis else None
    pg_down = [f for f in faults if f.name in ("pg-restart", "pg-stop")]
    pg_windows = [_window(seen, f.start, f.end + grace) for f in pg_down]

    checks = {
        "calls_not_lost": not lost_calls,
        "tracked_events_not_lost": not events_missing,
        "webhooks_not_lost": webhooks["missing"] == 0 and webhooks["signature_failures"] == 0,
        "calls_not_doubled": not doubled_by_ref and not doubled_by_key,
        "webhooks_doubled_only_at_a_worker_kill": webhooks["duplicates"]
        == webhooks["duplicates_in_flight_at_worker_kill"],
        "no_call_charged_twice": not money["calls_charged_twice"],
        "every_charged_call_charged_its_cost": not money["calls_with_cost_but_no_charge"]
        and not money["charges_not_matching_the_cost"],
        "wallet_balances_add_up": all(w["adds_up"] and w["held"] == 0 for w in money["wallets"]),
        "snapshots_written_once": all(s["rows"] == s["distinct"] for s in snapshots.values())
        and not state["doubled_slots"],
        "authenticated_requests_served_without_redis": redis_window is None
        or (redis_window["success_rate"] or 0) >= 0.99,
        "503_with_retry_after_while_postgres_down": all(
            w["status_500"] == 0 and w["status_503"] == w["status_503_with_retry_after"]
            for w in pg_windows
        )
        # A stop lasts seconds: clients and /readyz must have seen it (a restart may be
        # too quick for anyone to).
        and all(
            w["status_503"] > 0 and w["readyz"].get("503", 0) > 0
            for f, w in zip(pg_down, pg_windows, strict=True)
            if f.name == "pg-stop"
        ),
        "idempotency_keys_free_after_a_5xx": keys["after_5xx"]["in_use_409"] == 0,
        "usage_counts_kept_but_at_the_api_kill": all(
            u["lost"] <= u["answered_by_the_killed_api_in_its_last_flush_interval"]
            for u in usage.values()
        ),
        "every_call_finished": not any(
            c["status"] in ("queued", "initiated", "ringing", "in-progress") for c in state["calls"]
        ),
    }
    if redis is None:
        del checks["authenticated_requests_served_without_redis"]
    if not pg_down:
        del checks["503_with_retry_after_while_postgres_down"]
    return {
        "bench": "chaos",
        "duration_s": args.duration,
        "rates": {
            "calls_per_s": args.calls_per_s,
            "events_per_s": args.events_per_s,
            "reads_per_s": args.reads_per_s,
            "simulator_speed": args.simulator_speed,
        },
        "load": {
            "requests": sum(1 for a in attempts if a.kind != "ready"),
            "calls_started": seen.calls_started,
            "calls_created_201": len(seen.calls),
            "calls_given_up": seen.calls_given_up,
            "calls_refused": dict(seen.calls_refused),
            "replayed_201": sum(1 for a in attempts if a.kind == "call" and a.replayed),
            "events_sent": seen.events_sent,
            "events_accepted": len(seen.events_accepted),
            "batches_given_up": seen.batches_given_up,
        },
        "baseline": baseline,
        "faults": windows,
        "calls": {
            "in_database": len(calls_db),
            "statuses": dict(statuses),
            "lost": lost_calls[:20],
            "doubled_refs": doubled_by_ref[:20],
            "keys_with_two_call_ids": doubled_by_key[:20],
            "created_without_a_201": len(calls_db) - len(set(seen.calls.values()) & set(calls_db)),
        },
        "tracked_events": {
            "accepted": len(seen.events_accepted),
            "stored": len(state["stored_events"]),
            "missing": len(events_missing),
            "missing_ids": events_missing[:20],
        },
        "webhooks": {**webhooks, "deliveries": state["deliveries"]},
        "money": money,
        "snapshots": snapshots,
        "scheduled_slots_run_twice": state["doubled_slots"],
        "scheduled_runs": state["job_runs"],
        "failed_jobs": state["failed_jobs"],
        "redis_outage": redis_window,
        "idempotency": {**keys, "key_rows": state["idempotency_keys"]},
        "usage": usage,
        "settle_s": round(outcome["settle_s"], 1),
        "settle_state": outcome["settle_state"],
        "exit_codes_on_sigterm": outcome["exit_codes"],
        "errors_logged": errors_logged,
        "checks": checks,
        "passed": all(checks.values()),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def summary(result: dict[str, Any]) -> str:
    """The result, for a person."""
    out = [f"chaos run: {result['duration_s']:.0f} s, load {result['load']}"]
    b = result["baseline"]
    out.append(
        f"baseline: {b['requests']} requests, success {b['success_rate']}, "
        f"call p50/p99 {b['call']['p50_ms']}/{b['call']['p99_ms']} ms, "
        f"load average (1 min) up to {b['loadavg_1m_max']}, problems {b['problems']}"
    )
    for w in result["faults"]:
        out.append(
            f"- {w['fault']} at {w['at_s']} s ({w['what']}; {w['lasted_s']} s, window "
            f"{w['window_s']} s): {w['requests']} requests, success {w['success_rate']}, "
            f"500: {w['status_500']}, 503: {w['status_503']} "
            f"({w['status_503_with_retry_after']} with Retry-After), no answer: "
            f"{w['no_answer']}, last failure +{w['last_failure_after_start_s']} s"
            + (f", cut off by the kill: {w['cut_off_at_the_kill']}" if w["fault"] == "api" else "")
        )
        for kind in ("call", "track", "read"):
            k = w[kind]
            out.append(
                f"    {kind}: {k['statuses']} "
                f"p50/p99/max {k['p50_ms']}/{k['p99_ms']}/{k['max_ms']} ms"
            )
        out.append(f"    /readyz: {w['readyz']}; load average (1 min) up to {w['loadavg_1m_max']}")
        if w["problems"]:
            out.append(f"    problems: {w['problems']}")
    wh = result["webhooks"]
    out.append(
        f"webhooks: {wh['expected']} expected, {wh['unique']} received ({wh['received']} "
        f"requests), missing {wh['missing']}, bad signatures {wh['signature_failures']}, "
        f"duplicates {wh['duplicates']} ({wh['duplicates_in_flight_at_worker_kill']} in flight "
        f"at a worker SIGKILL)"
    )
    for d in wh["duplicate_list"][:10]:
        out.append(f"    {d['webhook_id']} {d['type']} x{d['copies']} at {d['arrived_s']} s")
    out.append(f"calls: {result['calls']}")
    out.append(f"tracked events: {result['tracked_events']}")
    out.append(f"money: {result['money']}")
    out.append(f"idempotency: {result['idempotency']}")
    out.append(f"usage: {result['usage']}")
    out.append(
        f"snapshots: {result['snapshots']}; slots run twice: {result['scheduled_slots_run_twice']}"
    )
    out.append(f"settled in {result['settle_s']} s: {result['settle_state']}")
    out.append(f"exit codes on SIGTERM: {result['exit_codes_on_sigterm']}")
    if result["errors_logged"]:
        out.append(f"errors logged: {result['errors_logged']}")
    for name, ok in result["checks"].items():
        out.append(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return "\n".join(out)
