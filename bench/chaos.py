"""Fault run: commbase in its production layout under steady load, through killed
processes and database and Redis outages; afterwards, what was lost or doubled.

    .venv/bin/python bench/chaos.py [--duration 210] [--calls-per-s 10]
                                    [--events-per-s 400] [--reads-per-s 5]
                                    [--faults worker,api,pg-restart,pg-stop,redis]

Everything runs on servers this script starts and removes itself, never the shared
ones: a PostgreSQL cluster (``initdb`` + ``pg_ctl`` as the ``postgres`` user, data and
socket directories in a temporary directory, a free port) and a ``redis-server``
(free port, no persistence: stopped, it comes back empty). It migrates, creates an
organization and its owner (``commbase users create``, ``commbase keys create``), then
through the API: a webhook endpoint for every event type pointing at a local receiver
(a separate process that verifies every signature with ``standardwebhooks`` and notes
each ``webhook-id`` with its arrival time), a funded wallet and one API key for each
kind of client. Two ``commbase serve`` processes run with COMMBASE_RUN_JOBS=false and
two ``commbase worker`` processes beside them; calls run at COMMBASE_SIMULATOR_SPEED
(60: a two-minute call lasts two seconds).

Load, spread over both API processes as a load balancer would (a retry goes to the
next process): ``--calls-per-s`` calls placed with an ``Idempotency-Key`` and a
reference of their own in ``metadata.ticket_id``, retried with the same key on a 5xx,
a 429, a 409 ``idempotency-key-in-use`` or no answer (after ``Retry-After`` when
given); ``--events-per-s`` tracked events in batches of ``--batch`` with ids of their
own, retried as they were; ``--reads-per-s`` authenticated reads (``/v1/me``, a page
of calls, the wallet), never retried; ``/readyz`` of each process every second.

Faults, spread over the run (each only if named in ``--faults``): SIGKILL a worker and
start a replacement; SIGKILL an API process and start a replacement on its port;
``pg_ctl restart -m fast``; PostgreSQL stopped for ``--pg-down-s`` (5); Redis stopped
for ``--redis-down-s`` (10). For each fault window (its start to its end plus
``--grace-s``) the run reports what clients saw: status codes per kind of request,
503s with and without ``Retry-After``, answers that never came, latency, ``/readyz``.

After the load, it waits (``--settle``) for calls to finish and webhooks to drain,
stops the fleet with SIGTERM (so usage counts are written), then checks:

* nothing lost: every call answered 201 exists; every tracked event accepted is
  stored; every outbox event of the organization since the endpoint's creation
  reached the receiver, with a valid signature;
* nothing doubled: one call per reference; webhooks received twice are counted and
  named, and those whose first copy arrived around a worker SIGKILL are told apart;
* no call charged twice: one ``call_charge`` ledger row per charged call, its amount
  the call's cost, the wallet's balance equal to credits minus debits and nothing
  held once every call has ended;
* each snapshot written once, and no scheduled job slot run twice;
* authenticated requests kept succeeding while Redis was away (success rate);
* 503 with ``Retry-After`` (no 500) while PostgreSQL was down;
* every ``Idempotency-Key`` usable again as soon as its request failed: no 409
  ``idempotency-key-in-use`` after a 5xx; reported apart, keys locked after no answer
  (a process killed holding the key), with how long they stayed locked;
* usage counts kept: each key's ``total_requests`` covers its successful requests,
  but for those the killed API process answered within COMMBASE_USAGE_FLUSH_S before
  its SIGKILL (counts it held in memory);
* every call finished (the simulator and the workers carried all of them through).

To run it against another version of commbase, put that tree's ``src`` first on
``PYTHONPATH``: every process it starts imports commbase from there.

Prints one JSON line on stdout and a readable summary on stderr; exits 1 when a check
fails. Every process and temporary directory is removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

if __package__ in (None, ""):  # run as a script: make `bench._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._chaos_figures import database_state, expected_events, report, summary
from bench._chaos_load import CALL_GIVE_UP_S, CLIENT_TIMEOUT_S, Clients, Fault, now
from bench._common import (
    HOST,
    PostgresCluster,
    RedisServer,
    commbase_command,
    free_port,
    server_env,
    stop_process,
    tail,
)

DATABASE = "commbase_chaos"
SERVER_SECRET = "chaos-run-secret-" + "x" * 48
OWNER_EMAIL = "owner@chaos.example"
ORGANIZATION = "chaos"
STARTUP_TIMEOUT_S = 90.0
FAULTS = ("worker", "api", "pg-restart", "pg-stop", "redis")


# ------------------------------------------------------------------ receiver


def _receiver_app() -> Callable[..., Awaitable[None]]:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    verifier: list[Webhook] = []
    # (webhook-id, event type, arrival wall time, signature verified)
    records: list[tuple[str, str | None, float, bool]] = []

    async def respond(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        arrived = now()
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/hooks":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            event_type, verified = None, False
            if verifier:
                try:
                    event_type = verifier[0].verify(body, headers).get("type")
                    verified = True
                except (WebhookVerificationError, ValueError, KeyError, TypeError):
                    verified = False
            records.append((headers.get("webhook-id", ""), event_type, arrived, verified))
            await respond(send, 200, b'"ok"')
        elif method == "POST" and path == "/_config":
            verifier[:] = [Webhook(json.loads(body)["secret"])]
            await respond(send, 200, b'"ok"')
        elif method == "GET" and path == "/_healthz":
            await respond(send, 200, b'"ok"')
        elif method == "GET" and path == "/_results":
            await respond(send, 200, json.dumps(records).encode())
        else:
            await respond(send, 404, b'"not found"')

    return app


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _receiver_app(),
        host=HOST,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=2048,
        timeout_keep_alive=60,  # longer than httpx's keep-alive: the sender retires first
    )


# ------------------------------------------------------------------ processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None


class Fleet:
    """API processes, workers and the receiver, each with a log file in ``workdir``."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.command = commbase_command()
        self.procs: list[Proc] = []

    def _spawn(self, name: str, argv: list[str], port: int | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this script only; it cleans up
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def api(self, name: str, port: int) -> Proc:
        argv = [*self.command, "serve", "--host", HOST, "--port", str(port)]
        return self._spawn(name, argv, port)

    def worker(self, name: str) -> Proc:
        return self._spawn(name, [*self.command, "worker"])

    def receiver(self, port: int) -> Proc:
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve-receiver", str(port)]
        return self._spawn("receiver", argv, port)

    async def wait_http(self, proc: Proc, path: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{proc.port}", timeout=2) as http:
            while time.monotonic() < deadline:
                if proc.popen.poll() is not None:
                    raise SystemExit(f"{proc.name} exited early:\n{tail(proc.log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(path)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise SystemExit(f"{proc.name} did not answer {path}:\n{tail(proc.log)}")

    async def wait_worker(self, proc: Proc) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{proc.name} exited early:\n{tail(proc.log)}")
            if "worker running" in tail(proc.log, 400):
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"{proc.name} did not start:\n{tail(proc.log)}")

    @staticmethod
    def kill(proc: Proc) -> None:
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait()

    @staticmethod
    def stop(procs: list[Proc], timeout_s: float = 30.0) -> dict[str, str]:
        """One SIGTERM each, all at once; how each ended (SIGKILL after ``timeout_s``).
        uvicorn re-raises the SIGTERM it handled, so a served API ends with -15."""
        for proc in procs:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        ended = {}
        for proc in procs:
            try:
                ended[proc.name] = f"exit {proc.popen.wait(timeout_s)}"
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                ended[proc.name] = f"SIGKILL after {timeout_s:.0f} s"
        return ended

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                stop_process(proc.popen, 10.0)

    def errors_logged(self) -> dict[str, dict[str, int]]:
        """Per process: error log lines by their ``event``, most frequent first."""
        found: dict[str, dict[str, int]] = {}
        for proc in self.procs:
            events: Counter[str] = Counter()
            with contextlib.suppress(OSError):
                for line in proc.log.read_text(errors="replace").splitlines():
                    if '"level": "error"' not in line and "Traceback" not in line:
                        continue
                    try:
                        events[str(json.loads(line).get("event"))[:80]] += 1
                    except ValueError:
                        events[line.strip()[:80]] += 1
            if events:
                found[proc.name] = dict(events.most_common(5))
        return found


# ------------------------------------------------------------------ the run


class ChaosRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="commbase-chaos-"))
        self.tmp.chmod(0o755)  # the postgres user walks into it
        self.pg = PostgresCluster(self.tmp / "postgres", free_port())
        self.redis = RedisServer(self.tmp / "redis", free_port())
        self.fleet: Fleet | None = None
        self.t0 = 0.0

    def cleanup(self) -> None:
        if self.fleet is not None:
            self.fleet.stop_all()
        with contextlib.suppress(Exception):
            self.redis.stop()
        with contextlib.suppress(Exception):
            self.pg.destroy()
        if self.args.keep_logs:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)

    # -------------------------------------------------------------- setting up

    def _servers(self) -> str:
        self.pg.init(fsync="off", max_connections="300", shared_buffers="128MB")
        self.pg.start()
        self.redis.start()

        async def create() -> None:
            connection = await asyncpg.connect(
                host=HOST, port=self.pg.port, user="postgres", database="postgres"
            )
            try:
                await connection.execute(f"CREATE DATABASE {DATABASE}")
            finally:
                await connection.close()

        asyncio.run(create())
        return self.pg.url(DATABASE)

    def _environment(self, database_url: str) -> dict[str, str]:
        env = server_env(
            database_url, secret=SERVER_SECRET, run_jobs=False, redis_url=self.redis.url
        )
        env.update(
            {
                "COMMBASE_SIMULATOR_SPEED": str(self.args.simulator_speed),
                "COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _cli(self, env: dict[str, str], *argv: str) -> str:
        done = subprocess.run(
            [*commbase_command(), *argv],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"`commbase {' '.join(argv[:2])}` failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def _owner_key(self, env: dict[str, str]) -> str:
        self._cli(env, "migrate")
        self._cli(
            env, "users", "create", "--email", OWNER_EMAIL, "--password", secrets.token_urlsafe(24),
            "--organization", ORGANIZATION,
        )  # fmt: skip
        out = self._cli(
            env, "keys", "create", "--email", OWNER_EMAIL, "--organization", ORGANIZATION,
            "--name", "chaos owner",
        )  # fmt: skip
        return out.strip().split()[-1]

    async def _through_api(self, base: str, owner: str, receiver_port: int) -> dict[str, Any]:
        """The endpoint, the wallet and the clients' keys, made as a customer would."""
        headers = {"Authorization": f"Bearer {owner}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:

            async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                response = await api.post(path, json=body)
                if response.status_code != 201:
                    raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
                created: dict[str, Any] = response.json()
                return created

            endpoint = await post(
                "/v1/webhooks",
                {"url": f"http://{HOST}:{receiver_port}/hooks", "event_types": ["*"]},
            )
            async with httpx.AsyncClient(base_url=f"http://{HOST}:{receiver_port}") as receiver:
                (
                    await receiver.post("/_config", json={"secret": endpoint["secret"]})
                ).raise_for_status()
            wallet = await post("/v1/wallets", {})
            await post(f"/v1/wallets/{wallet['id']}/topups", {"amount": 100_000_000})
            keys, key_ids = {}, {}
            for kind in ("calls", "track", "read"):
                key = await post(
                    "/v1/api-keys", {"name": f"chaos {kind}", "max_concurrent_calls": 10_000}
                )
                keys[kind], key_ids[kind] = key["key"], key["id"]
            types = (await api.get("/v1/webhooks/event-types")).json()["data"]
            org = (await api.get("/v1/organizations/current")).json()
        return {
            "org_id": org["id"],
            "endpoint_id": endpoint["id"],
            "wallet_id": wallet["id"],
            "keys": keys,
            "key_ids": key_ids,
            "event_types": [t["name"] for t in types],
        }

    # -------------------------------------------------------------- faults

    def _plan(self) -> list[tuple[float, str]]:
        """When each fault starts: spread from 12% to 72% of the run."""
        chosen = [name for name in FAULTS if name in self.args.faults]
        if not chosen:
            return []
        step = 0.6 / max(1, len(chosen) - 1) if len(chosen) > 1 else 0.0
        return [(self.args.duration * (0.12 + i * step), name) for i, name in enumerate(chosen)]

    async def _fault(self, name: str, apis: list[Proc], workers: list[Proc]) -> Fault:
        fleet = self.fleet
        assert fleet is not None
        start = now()
        if name == "worker":
            victim = workers[0]
            fleet.kill(victim)
            replacement = fleet.worker(victim.name + "b")
            workers[0] = replacement
            await fleet.wait_worker(replacement)
            note = f"SIGKILL {victim.name} (pid {victim.popen.pid}); {replacement.name} started"
        elif name == "api":
            victim = apis[0]
            fleet.kill(victim)
            assert victim.port is not None
            replacement = fleet.api(victim.name + "b", victim.port)
            apis[0] = replacement
            await fleet.wait_http(replacement, "/healthz")
            note = f"SIGKILL {victim.name} (pid {victim.popen.pid}); {replacement.name} serving"
        elif name == "pg-restart":
            await asyncio.to_thread(self.pg.restart, "fast")
            note = "pg_ctl restart -m fast"
        elif name == "pg-stop":
            await asyncio.to_thread(self.pg.stop, "fast")
            await asyncio.sleep(self.args.pg_down_s)
            await asyncio.to_thread(self.pg.start)
            note = f"pg_ctl stop -m fast; {self.args.pg_down_s} s; pg_ctl start"
        else:
            await asyncio.to_thread(self.redis.stop)
            await asyncio.sleep(self.args.redis_down_s)
            await asyncio.to_thread(self.redis.start)
            note = f"redis-server stopped {self.args.redis_down_s} s, started empty"
        return Fault(name, start, now(), note)

    async def _faults(self, apis: list[Proc], workers: list[Proc], faults: list[Fault]) -> None:
        for at, name in self._plan():
            await asyncio.sleep(max(0.0, self.t0 + at - now()))
            fault = await self._fault(name, apis, workers)
            faults.append(fault)
            print(
                f"[{fault.start - self.t0:6.1f}s] {name}: {fault.note} "
                f"({fault.end - fault.start:.1f} s)",
                file=sys.stderr,
            )

    # -------------------------------------------------------------- settling

    async def _settled(
        self, database: asyncpg.Connection, setup: dict[str, Any], receiver: httpx.AsyncClient
    ) -> dict[str, Any]:
        org = setup["org_id"]
        active = await database.fetchval(
            "SELECT count(*) FROM calls WHERE org_id = $1 AND status IN "
            "('queued', 'initiated', 'ringing', 'in-progress')",
            org,
        )
        pending_outbox = await database.fetchval(
            "SELECT count(*) FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id "
            "WHERE e.org_id = $1 AND d.consumer = 'webhooks' AND d.done_at IS NULL",
            org,
        )
        pending_deliveries = await database.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND status = 'pending'",
            org,
        )
        expected = await expected_events(database, setup)
        received = {r[0] for r in (await receiver.get("/_results")).json()}
        return {
            "active_calls": int(active),
            "outbox_pending": int(pending_outbox),
            "deliveries_pending": int(pending_deliveries),
            "webhooks_missing": len(set(expected) - received),
        }

    async def _settle(
        self, setup: dict[str, Any], receiver_port: int
    ) -> tuple[float, dict[str, Any]]:
        began = now()
        state: dict[str, Any] = {}
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{receiver_port}", timeout=30
        ) as receiver:
            while now() - began < self.args.settle:
                try:
                    database = await asyncpg.connect(
                        host=HOST, port=self.pg.port, user="postgres", database=DATABASE
                    )
                    try:
                        state = await self._settled(database, setup, receiver)
                    finally:
                        await database.close()
                except (OSError, asyncpg.PostgresError) as exc:
                    state = {"error": repr(exc)}
                if state and not any(state.values()):
                    break
                await asyncio.sleep(2.0)
        return now() - began, state

    # -------------------------------------------------------------- running

    async def _run(self, env: dict[str, str], owner: str) -> dict[str, Any]:
        fleet = self.fleet = Fleet(self.tmp, env)
        receiver_port = free_port()
        receiver = fleet.receiver(receiver_port)
        ports = [free_port(), free_port()]
        apis = [fleet.api(f"api-{i + 1}", port) for i, port in enumerate(ports)]
        workers = [fleet.worker(f"worker-{i + 1}") for i in range(2)]
        await fleet.wait_http(receiver, "/_healthz")
        await asyncio.gather(*(fleet.wait_http(api, "/healthz") for api in apis))
        await asyncio.gather(*(fleet.wait_worker(w) for w in workers))
        setup = await self._through_api(f"http://{HOST}:{ports[0]}", owner, receiver_port)
        clients = Clients(self.args, ports, setup["keys"], setup["wallet_id"])
        stop = asyncio.Event()
        self.t0 = now()
        print(f"load for {self.args.duration:.0f} s; faults: {self._plan()}", file=sys.stderr)
        loops = [
            clients.every(self.args.calls_per_s, clients.place_call, stop),
            clients.every(self.args.events_per_s / self.args.batch, clients.track_batch, stop),
            clients.every(self.args.reads_per_s, clients.read, stop),
            clients.every(1.0, lambda _n: clients.probe_ready(0), stop),
            clients.every(1.0, lambda _n: clients.probe_ready(1), stop),
            clients.every(1.0, clients.sample_load, stop),
        ]
        load = [asyncio.create_task(loop) for loop in loops]
        faults = asyncio.create_task(self._faults(apis, workers, clients.seen.faults))
        await asyncio.sleep(self.args.duration)
        stop.set()
        await asyncio.gather(*load)
        load_end = now()
        await faults  # a fault in progress ends with its servers back up
        await clients.finish(CALL_GIVE_UP_S + CLIENT_TIMEOUT_S)
        settle_s, settle_state = await self._settle(setup, receiver_port)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{receiver_port}") as receiver_api:
            records = (await receiver_api.get("/_results", timeout=60)).json()
        exit_codes = await asyncio.to_thread(fleet.stop, apis + workers)
        return {
            "setup": setup,
            "seen": clients.seen,
            "load_end": load_end,
            "settle_s": settle_s,
            "settle_state": settle_state,
            "receipts": records,
            "exit_codes": exit_codes,
        }

    def execute(self) -> dict[str, Any]:
        database_url = self._servers()
        env = self._environment(database_url)
        owner = self._owner_key(env)
        outcome = asyncio.run(self._run(env, owner))
        checks = asyncio.run(self._database(outcome["setup"]))
        assert self.fleet is not None
        return report(self.args, self.t0, outcome, checks, self.fleet.errors_logged())

    async def _database(self, setup: dict[str, Any]) -> dict[str, Any]:
        connection = await asyncpg.connect(
            host=HOST, port=self.pg.port, user="postgres", database=DATABASE
        )
        try:
            return await database_state(connection, setup)
        finally:
            await connection.close()


# ------------------------------------------------------------------ main


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=210.0, help="seconds of load")
    parser.add_argument("--calls-per-s", type=float, default=10.0)
    parser.add_argument("--events-per-s", type=float, default=400.0)
    parser.add_argument("--batch", type=int, default=100, help="tracked events per request")
    parser.add_argument("--reads-per-s", type=float, default=5.0)
    parser.add_argument("--simulator-speed", type=float, default=60.0)
    parser.add_argument(
        "--faults",
        type=lambda text: [f.strip() for f in text.split(",") if f.strip()],
        default=list(FAULTS),
        help=f"which, comma-separated: {','.join(FAULTS)} (empty: none)",
    )
    parser.add_argument("--pg-down-s", type=float, default=5.0)
    parser.add_argument("--redis-down-s", type=float, default=10.0)
    parser.add_argument("--grace-s", type=float, default=5.0, help="a fault's window after it")
    parser.add_argument(
        "--settle", type=float, default=180.0, help="seconds to wait for calls and webhooks"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve-receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    if args.duration < 30 or args.batch < 1 or args.settle < 0:
        parser.error("--duration must be at least 30, --batch positive, --settle >= 0")
    return args


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run as Ctrl-C does, through the clean-up."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.serve_receiver is not None:
        serve_receiver(args.serve_receiver)
        return 0
    run = ChaosRun(args)
    try:
        with _sigterm_as_interrupt():
            result = run.execute()
    except KeyboardInterrupt:
        print("interrupted: stopping every process and removing the files", file=sys.stderr)
        return 130
    finally:
        run.cleanup()
    print(summary(result), file=sys.stderr)
    print(json.dumps(result, separators=(",", ":"), default=str))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
