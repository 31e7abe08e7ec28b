"""Messaging: signed WhatsApp webhooks ingested by a real uvicorn server, and a
campaign sent through the simulator by runner processes.

    .venv/bin/python bench/messaging.py [--inbound 20000] [--per-request 1]
        [--concurrency 32] [--workers 2] [--filers 1] [--filer-only] [--recipients 10000]
        [--runners 2] [--database-url URL]

The database (default PostgreSQL ``cb_bench_messaging`` on 127.0.0.1) is dropped,
created and migrated; ``commbase demo`` makes the organization and its API key;
``commbase serve --workers N`` serves it (jobs off, rate limits out of the way).

1. **Inbound.** A WhatsApp account (``provider: whatsapp``) is created through the
   API. ``--inbound`` text messages from 2,000 different numbers, in the Cloud API's
   notification shape with ``--per-request`` messages each, are built and signed
   (``X-Hub-Signature-256``, HMAC-SHA256 with the app secret) before timing;
   ``--concurrency`` connections post them. Every answer must be 200. The webhook
   only verifies and keeps each notification; ``--filers`` ``commbase worker``
   processes (with ``--filer-only``: processes running only the filer,
   ``python -m commbase.messaging.filer``), started before the posting, file them
   in batches. Two rates:
   *accepted* (messages answered 200 per second of posting) and *stored* (messages
   per second from the first post until the last one is filed). Every message must
   then be stored exactly once (counted in the database) and no notification left.
2. **Campaign.** A simulator account and ``--recipients`` contacts holding a label
   are written; a campaign to that label (throttle 1,000 per second, the most a
   campaign allows) is started through the API and ``--runners`` ``commbase worker``
   processes send it (with ``--runner-only``: processes running only the campaign
   runner, ``python -m commbase.messaging.campaigns.worker``; ``commbase worker``
   also runs the simulator that moves every sent message to delivered and read).
   Timed from the first campaign message written to the campaign's completion; then
   every recipient must own exactly one sent message.

Prints one JSON line of figures on stdout: the rates, the CPU the server (all its
uvicorn workers) used per request and the filers per message while posting and
filing, the CPU the posting client itself used per request and how busy the whole
machine was while posting (near 1.0: CPU-bound; well below: something waits), the
uvicorn workers, filers, CPU count and the 1-minute load average before and after
each part (on a machine other work shares, the rates follow the CPU share
left; the CPU per message does not).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (
    asyncpg_dsn,
    commbase_command,
    free_port,
    fresh_database,
    migrate_and_demo,
    server_env,
    stop_process,
    wait_until_up,
)
from commbase.core.ids import new_id
from commbase.messaging.providers.whatsapp import sign

HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_messaging"
# Dropped and created by the run: only these names.
ALLOWED_DATABASES = frozenset({"cb_bench_messaging", "commbase_h3b", "commbase_h5"})
SECRET = "bench-messaging-secret-" + "x" * 40
APP_SECRET = "bench-meta-app-secret-0123456789"  # noqa: S105  (a benchmark's own)
PHONE_NUMBER_ID = "109876543210"
SENDERS = 2000
CAMPAIGN_TIMEOUT_S = 600.0


# ------------------------------------------------------------------ inbound


def notification(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100000",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {
                                    "profile": {"name": f"Sender {m['from'][-4:]}"},
                                    "wa_id": m["from"],
                                }
                                for m in messages
                            ],
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


def signed_bodies(run: str, count: int, per_request: int) -> list[bytes]:
    """``count`` inbound text messages, ``per_request`` to a notification, as signed bytes."""
    now = str(int(time.time()))
    bodies = []
    for start in range(0, count, per_request):
        messages = [
            {
                # +1 415 555 0000-1999: valid numbers (the 1415000xxxx this used
                # before are not, so each message made a contact without a phone).
                "from": f"1415555{n % SENDERS:04d}",
                "id": f"wamid.{run}.{n:09d}",
                "timestamp": now,
                "type": "text",
                "text": {"body": f"Hello, order {n} -- is it shipped?"},
            }
            for n in range(start, min(start + per_request, count))
        ]
        bodies.append(orjson.dumps(notification(messages)))
    return bodies


def requests_for(bodies: list[bytes], port: int) -> list[bytes]:
    """Each body as a complete signed HTTP/1.1 request, built before timing."""
    return [
        (
            f"POST /v1/providers/whatsapp/webhook HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: {sign(body, APP_SECRET)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection, of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    )
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def post_all(port: int, bodies: list[bytes], concurrency: int) -> float:
    """Post every body over ``concurrency`` kept-alive connections; seconds taken.

    A bare asyncio HTTP/1.1 client (requests built and signed beforehand): httpx
    spent more CPU per request than the server, on the same two cores."""
    pending = collections.deque(requests_for(bodies, port))

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while pending:
            request = pending.popleft()
            for attempt in range(3):
                try:
                    if connection is None:
                        connection = await asyncio.open_connection(HOST, port)
                    reader, writer = connection
                    writer.write(request)
                    status, answer, keep = await _answer(reader)
                    break
                except (OSError, asyncio.IncompleteReadError):
                    # A kept-alive connection the server closed meanwhile (idle past
                    # uvicorn's 5 s under heavy load): sent again, as Meta retries; a
                    # body kept twice is dropped by its digest.
                    connection = None
                    if attempt == 2:
                        raise
            if status != 200:
                raise SystemExit(f"webhook answered {status}: {answer[:500]!r}")
            if not keep and connection is not None:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def wait_filed(dsn: str, timeout_s: float = 600.0) -> None:
    """Until the filers have filed every notification (one that failed ends the run)."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            waiting, failed = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE failed_at IS NULL),"
                " count(*) FILTER (WHERE failed_at IS NOT NULL) FROM whatsapp_notifications"
            )
            if failed:
                raise SystemExit(f"{failed} notifications could not be filed")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"{waiting} notifications still not filed")
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes ``pids`` and their children used so far
    (Linux ``/proc``; 0 elsewhere): under a shared machine's load, rates fall with
    the CPU share left to the bench, CPU per message does not."""
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo.extend(int(child) for child in children)
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (``/proc/stat``): the share
    busy while posting tells a bench held up by CPU from one held up by a wait."""
    try:
        fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------ campaign


async def write_contacts(dsn: str, org_id: str, count: int) -> None:
    now = datetime.now(UTC)
    rows = [
        (
            new_id("cnt"),
            org_id,
            f"Recipient {n}",
            f"recipient {n}",
            f"+1628{n:06d}0",  # ends in 0: the simulator delivers and reads, no reply
            json.dumps(["bench"]),
            "{}",
            "{}",
            False,
            0,
            0,
            now,
            now,
        )
        for n in range(count)
    ]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "contacts",
            records=rows,
            columns=[
                "id", "org_id", "name", "search_name", "phone", "labels", "metadata",
                "attributes", "blocked", "total_calls", "total_duration", "created_at",
                "updated_at",
            ],
        )  # fmt: skip
    finally:
        await connection.close()


async def campaign_progress(dsn: str, campaign_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT status, completed_at FROM campaigns WHERE id = $1", campaign_id
        )
        first = await connection.fetchval(
            "SELECT min(created_at) FROM messages WHERE campaign_id = $1", campaign_id
        )
        return {"status": row["status"], "completed_at": row["completed_at"], "first": first}
    finally:
        await connection.close()


async def campaign_check(dsn: str, campaign_id: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            """
            SELECT count(*) AS messages,
                   count(DISTINCT contact_id) AS contacts,
                   count(*) FILTER (WHERE status = 'queued') AS unsent,
                   (SELECT count(*) FROM campaign_recipients
                     WHERE campaign_id = $1 AND status = 'sent') AS recipients_sent
            FROM messages WHERE campaign_id = $1
            """,
            campaign_id,
        )
        return dict(row)
    finally:
        await connection.close()


async def backend_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench's database
    (``/proc``; the runners' pooled connections live through the campaign)."""
    connection = await asyncpg.connect(dsn)
    try:
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return {row["pid"]: cpu_seconds([row["pid"]]) for row in pids}


def spawn_runners(
    count: int,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    *,
    runner_only: bool,
    name: str = "runner",
    only: str = "commbase.messaging.campaigns.worker",
) -> list[Any]:
    """``commbase worker`` processes, or with ``runner_only`` processes running only the
    module ``only``: the campaign runner (no messaging simulator moving messages on, no
    webhooks, no effects) or the notification filer (``commbase.messaging.filer``)."""
    argv = [sys.executable, "-m", only]
    runners = []
    for n in range(count):
        log = (workdir / f"{name}-{n}.log").open("wb")
        runners.append(
            subprocess.Popen(
                argv if runner_only else [*command, "worker"],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return runners


# ------------------------------------------------------------------ the run


async def bench(
    args: argparse.Namespace, *, port: int, api_key: str, server: Any, workdir: Path
) -> dict[str, Any]:
    base_url = f"http://{HOST}:{port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    dsn = asyncpg_dsn(args.database_url)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await wait_until_up(client, server, timeout_s=300.0)  # slow start under load
        account = await client.post(
            "/v1/channel-accounts",
            json={
                "kind": "whatsapp",
                "name": "Bench line",
                "provider": "whatsapp",
                "phone_number_id": PHONE_NUMBER_ID,
                "app_secret": APP_SECRET,
                "access_token": "EAAG-bench-token",
                "verify_token": "bench-verify-token",
            },
            headers=headers,
        )
        if account.status_code != 201:
            raise SystemExit(f"account: {account.status_code} {account.text}")
        runner_env = server_env(args.database_url, secret=SECRET, run_jobs=True)
        filers = spawn_runners(
            args.filers,
            commbase_command(),
            runner_env,
            workdir,
            runner_only=args.filer_only,
            name="filer",
            only="commbase.messaging.filer",
        )
        try:
            await post_all(port, signed_bodies("warm", 500, args.per_request), args.concurrency)
            await wait_filed(dsn)
            bodies = signed_bodies("run", args.inbound, args.per_request)
            filer_pids = [filer.pid for filer in filers]
            load_inbound = load()
            server_cpu, filer_cpu = cpu_seconds([server.pid]), cpu_seconds(filer_pids)
            client_cpu, (busy, total) = time.process_time(), machine_busy()
            inbound_database_cpu = await backend_cpu(dsn)
            posting_from = time.perf_counter()
            accepted_s = await post_all(port, bodies, args.concurrency)
            server_cpu = cpu_seconds([server.pid]) - server_cpu
            client_cpu = time.process_time() - client_cpu
            busy_after, total_after = machine_busy()
            posting_busy = (busy_after - busy) / max(total_after - total, 1e-9)
            await wait_filed(dsn)
            stored_s = time.perf_counter() - posting_from
            filer_cpu = cpu_seconds(filer_pids) - filer_cpu
            filed_busy = machine_busy()[0] - busy
            inbound_postgres_cpu = sum(
                cpu - inbound_database_cpu.get(pid, 0.0)
                for pid, cpu in (await backend_cpu(dsn)).items()
            )
            load_inbound_after = load()
        finally:
            for filer in filers:
                stop_process(filer)
        connection = await asyncpg.connect(dsn)
        try:
            stored = await connection.fetchval(
                "SELECT count(DISTINCT provider_message_id) FROM messages"
                " WHERE direction = 'inbound' AND provider_message_id LIKE 'wamid.run.%'"
            )
            rows = await connection.fetchval(
                "SELECT count(*) FROM messages WHERE provider_message_id LIKE 'wamid.run.%'"
            )
            left = await connection.fetchval("SELECT count(*) FROM whatsapp_notifications")
            org_id = await connection.fetchval("SELECT id FROM organizations ORDER BY id LIMIT 1")
        finally:
            await connection.close()
        if stored != args.inbound or rows != args.inbound or left:
            raise SystemExit(
                f"{rows} rows ({stored} distinct) stored of {args.inbound}; {left} not filed"
            )
        figures.update(
            inbound_accepted_s=round(accepted_s, 3),
            inbound_accepted_per_s=round(args.inbound / accepted_s),
            inbound_requests_per_s=round(len(bodies) / accepted_s, 1),
            inbound_stored_s=round(stored_s, 3),
            inbound_stored_per_s=round(args.inbound / stored_s),
            inbound_server_cpu_ms_per_request=round(1000 * server_cpu / len(bodies), 2),
            inbound_filer_cpu_ms_per_message=round(1000 * filer_cpu / args.inbound, 2),
            # PostgreSQL's backends serving the database and the whole machine (other
            # work too), from the first post until the last message was filed.
            inbound_postgres_cpu_ms_per_message=round(
                1000 * inbound_postgres_cpu / args.inbound, 2
            ),
            inbound_machine_cpu_ms_per_message=round(1000 * filed_busy / args.inbound, 2),
            inbound_client_cpu_ms_per_request=round(1000 * client_cpu / len(bodies), 2),
            inbound_machine_busy_while_posting=round(posting_busy, 2),
            loadavg_1m_inbound_start=load_inbound,
            loadavg_1m_inbound_end=load_inbound_after,
        )

        simulator = await client.post(
            "/v1/channel-accounts",
            json={"kind": "whatsapp", "name": "Bench simulator", "send_rate_per_minute": 100_000},
            headers=headers,
        )
        await write_contacts(dsn, str(org_id), args.recipients)
        started = await client.post(
            "/v1/campaigns",
            json={
                "name": "Bench campaign",
                "account_id": simulator.json()["id"],
                "template_name": "bench_offer",
                "template_parameters": ["20%"],
                "audience": {"kind": "labels", "labels": ["bench"]},
                "throttle_per_second": 1000,
                "start": True,
            },
            headers=headers,
        )
        if started.status_code != 201 or started.json()["recipients_total"] != args.recipients:
            raise SystemExit(f"campaign: {started.status_code} {started.text[:500]}")
    campaign_id = started.json()["id"]
    runner_env = server_env(args.database_url, secret=SECRET, run_jobs=True)
    runners = spawn_runners(
        args.runners, commbase_command(), runner_env, workdir, runner_only=args.runner_only
    )
    load_campaign = load()
    runner_pids = [runner.pid for runner in runners]
    runner_cpu: float | None = None
    try:
        deadline = time.monotonic() + CAMPAIGN_TIMEOUT_S
        while True:
            progress = await campaign_progress(dsn, campaign_id)
            if runner_cpu is None and progress["first"] is not None:
                # From the first message on (the runners' start-up left out).
                runner_cpu, (busy, total) = cpu_seconds(runner_pids), machine_busy()
                database_cpu = await backend_cpu(dsn)
            if progress["status"] == "completed":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the campaign did not complete: {progress}")
            await asyncio.sleep(0.2 if runner_cpu is not None else 0.02)
        runner_cpu = cpu_seconds(runner_pids) - (runner_cpu or 0.0)
        busy_after, total_after = machine_busy()
        database_after = await backend_cpu(dsn)
        postgres_cpu = sum(cpu - database_cpu.get(pid, 0.0) for pid, cpu in database_after.items())
    finally:
        for runner in runners:
            stop_process(runner)
    check = await campaign_check(dsn, campaign_id)
    if not (
        check["messages"] == check["contacts"] == check["recipients_sent"] == args.recipients
        and check["unsent"] == 0
    ):
        raise SystemExit(f"campaign messages do not add up: {check}")
    campaign_s = (progress["completed_at"] - progress["first"]).total_seconds()
    figures.update(
        campaign_s=round(campaign_s, 3),
        campaign_messages_per_s=round(args.recipients / campaign_s),
        # CPU of the runner processes, of the PostgreSQL backends serving the database,
        # and of the whole machine (other work too), from the first message to completion.
        campaign_runner_cpu_ms_per_message=round(1000 * runner_cpu / args.recipients, 3),
        campaign_postgres_cpu_ms_per_message=round(1000 * postgres_cpu / args.recipients, 3),
        campaign_machine_cpu_ms_per_message=round(1000 * (busy_after - busy) / args.recipients, 3),
        campaign_machine_busy=round((busy_after - busy) / max(total_after - total, 1e-9), 2),
        loadavg_1m_campaign_start=load_campaign,
        loadavg_1m_campaign_end=load(),
    )
    return figures


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inbound", type=int, default=20_000)
    parser.add_argument("--per-request", type=int, default=1, help="messages per notification")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--filers", type=int, default=1, help="commbase worker processes filing notifications"
    )
    parser.add_argument(
        "--filer-only",
        action="store_true",
        help="file with processes running only the filer (python -m commbase.messaging.filer)",
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--runners", type=int, default=2, help="commbase worker processes")
    parser.add_argument(
        "--runner-only",
        action="store_true",
        help="send with processes running only the campaign runner, not `commbase worker`",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if (
        min(
            args.inbound,
            args.per_request,
            args.concurrency,
            args.workers,
            args.filers,
            args.recipients,
        )
        < 1
    ):
        parser.error("counts must be positive")
    if not args.database_url.startswith("postgresql"):
        parser.error("this benchmark runs on PostgreSQL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    command = commbase_command()
    with tempfile.TemporaryDirectory(prefix="commbase-bench-messaging-") as tmp:
        workdir = Path(tmp)
        env = server_env(args.database_url, secret=SECRET, run_jobs=False)
        fresh_database(args.database_url, ALLOWED_DATABASES, migrate=False)
        api_key = migrate_and_demo(command, env, workdir)
        port = free_port()
        load_before = os.getloadavg()[0]
        with (workdir / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [*command, "serve", "--host", HOST, "--port", str(port), "--workers",
                 str(args.workers)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                figures = asyncio.run(
                    bench(
                        args,
                        port=port,
                        api_key=api_key,
                        server=server,
                        workdir=workdir,
                    )
                )
            except SystemExit:
                log.flush()
                for name in ("server.log", "filer-0.log", "runner-0.log"):
                    path = workdir / name
                    if path.exists():
                        lines = path.read_text(errors="replace").splitlines()
                        print(f"--- {name}\n" + "\n".join(lines[-30:]), file=sys.stderr)
                raise
            finally:
                stop_process(server)
    result = {
        "bench": "messaging",
        "inbound": args.inbound,
        "per_request": args.per_request,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "filers": args.filers,
        "filer_only": args.filer_only,
        "recipients": args.recipients,
        "runners": args.runners,
        "runner_only": args.runner_only,
        **figures,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
