"""What every benchmark needs: a safe database to write into, a server process to
start and stop, an event loop, and percentiles.

Benchmarks are run as scripts (``python bench/wallet.py``); each one puts the
repository root on ``sys.path`` before importing this module as ``bench._common``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from commbase.cli import migrate_database
from commbase.core.db import Database

HOST = "127.0.0.1"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Databases other people (tests, CI, helpers) use: a benchmark never writes there.
FORBIDDEN_DATABASES = frozenset(
    {"test", "commbase_test", "cbdev", "cbmig", "cbweb", "postgres", "template0", "template1"}
)
FORBIDDEN_PREFIXES = ("cb_helper_",)
T = TypeVar("T")


# ------------------------------------------------------------------ event loop


def run(coro: Coroutine[Any, Any, T], loop: str = "asyncio") -> T:
    """Run on uvloop, as ``uvicorn[standard]`` serves commbase, or on plain asyncio."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


# ------------------------------------------------------------------ database


def _local_postgres(url: str) -> str:
    """The backend name; refuses anything but SQLite or a PostgreSQL on this machine."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return backend
    if backend != "postgresql":
        raise SystemExit(f"unsupported database: {backend}")
    if (parsed.host or HOST) not in LOCAL_HOSTS:
        raise SystemExit("this benchmark only talks to a database on 127.0.0.1")
    return backend


def check_database_url(url: str) -> None:
    """Refuse databases that belong to someone else (tests, CI, other sessions)."""
    if _local_postgres(url) == "sqlite":
        return
    name = make_url(url).database or ""
    if name in FORBIDDEN_DATABASES or name.startswith(FORBIDDEN_PREFIXES):
        raise SystemExit(f"refusing to benchmark in the database {name!r}; it belongs elsewhere")


def check_droppable(url: str, allowed: frozenset[str]) -> str:
    """For benchmarks that drop their database first: only names in ``allowed``."""
    backend = _local_postgres(url)
    if backend == "postgresql" and make_url(url).database not in allowed:
        raise SystemExit(
            f"refusing to drop {make_url(url).database!r}; use one of {sorted(allowed)}"
        )
    return backend


def asyncpg_params(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "host": parsed.host or HOST,
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "database": parsed.database,
    }


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_postgres_database(url: str) -> bool:
    """Create the database named in ``url`` when it is missing; True if it was created."""
    name = make_url(url).database or ""
    connection = await asyncpg.connect(**{**asyncpg_params(url), "database": "postgres"})
    try:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await connection.execute(f"CREATE DATABASE {_quoted(name)}")
        return True
    finally:
        await connection.close()


async def _recreate_postgres(url: str) -> None:
    name = make_url(url).database or ""
    admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {_quoted(name)}")
    finally:
        await admin.close()


def _migrate(url: str) -> None:
    # migrate_database calls asyncio.run itself: give it a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate_database, url).result()


def prepare_database(url: str) -> bool:
    """Create the database if it is missing and migrate it; True if it was created."""
    check_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        created = asyncio.run(ensure_postgres_database(url))
    else:
        created = not parsed.database or not Path(parsed.database).exists()
    _migrate(url)
    return created


def fresh_database(url: str, allowed: frozenset[str], *, migrate: bool = True) -> None:
    """Drop and recreate the database (or delete the SQLite file), then migrate it."""
    if check_droppable(url, allowed) == "postgresql":
        asyncio.run(_recreate_postgres(url))
    else:
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if migrate:
        _migrate(url)


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def commbase_command() -> list[str]:
    """The installed ``commbase`` command, preferably the one beside this Python."""
    beside = Path(sys.executable).with_name("commbase")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("commbase")
    if found is None:
        raise SystemExit("the `commbase` command is not installed (pip install -e .)")
    return [found]


def tail(path: Path | None, lines: int = 40) -> str:
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def wait_until_up(
    client: httpx.AsyncClient,
    process: subprocess.Popen[bytes],
    *,
    path: str = "/healthz",
    what: str = "the server",
    timeout_s: float = 60.0,
    log_path: Path | None = None,
) -> None:
    """Poll ``path`` until it answers 200; fail (with the log's tail) if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited early:\n{tail(log_path)}")
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"{what} did not answer {path} in {timeout_s}s:\n{tail(log_path)}")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


# ------------------------------------------------------------------ figures


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# ------------------------------------------------------------------ a served commbase

HUGE_LIMIT = 1_000_000_000
KEY_PATTERN = re.compile(r"\bcb_(?:test|live)_[0-9A-Za-z]{20,}\b")


def server_env(
    database_url: str, *, secret: str, run_jobs: bool, redis_url: str | None = None
) -> dict[str, str]:
    """The environment of a ``commbase`` process: rate limits out of the way, plain logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMBASE_")}
    tiers = {
        name: {"limit": HUGE_LIMIT, "window_s": 60}
        for name in ("free", "standard", "premium", "enterprise")
    }
    env.update(
        {
            "COMMBASE_ENV": "development",
            "COMMBASE_DATABASE_URL": database_url,
            "COMMBASE_SECRET_KEY": secret,
            "COMMBASE_RATE_LIMIT_TIERS": json.dumps(tiers),
            "COMMBASE_SESSION_RATE_LIMIT": str(HUGE_LIMIT),
            "COMMBASE_ANONYMOUS_RATE_LIMIT": str(HUGE_LIMIT),
            "COMMBASE_LOG_LEVEL": "WARNING",
            "COMMBASE_RUN_JOBS": "true" if run_jobs else "false",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "COLUMNS": "200",
        }
    )
    if redis_url:
        env["COMMBASE_REDIS_URL"] = redis_url
    return env


def migrate_and_demo(command: list[str], env: dict[str, str], workdir: Path) -> str:
    """Run ``commbase migrate`` and ``commbase demo``; return the demo API key it prints."""
    output = ""
    for step in ("migrate", "demo"):
        done = subprocess.run(
            [*command, step],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            tail_ = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise SystemExit(f"`commbase {step}` failed:\n{tail_}")
        output = done.stdout
    found = KEY_PATTERN.search(output)
    if found is None:
        raise SystemExit(f"`commbase demo` printed no API key:\n{output}")
    return found.group(0)


# ------------------------------------------------------------------ SQL counting


@dataclass
class StatementLog:
    """Statements sent while ``active``: their SQL, parameters and seconds."""

    active: bool = False
    entries: list[tuple[str, Any, float]] = field(default_factory=list)

    def install(self, database: Database) -> None:
        engine = database.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if self.active and statement.strip().upper() != "SELECT 1":
                elapsed = time.perf_counter() - conn.info.pop("bench_started")
                self.entries.append((statement, params, elapsed))


@dataclass
class SqlCounter:
    """SQL statements sent (BEGIN and COMMIT aside), commits and new connections."""

    statements: int = 0
    commits: int = 0
    connects: int = 0

    def attach(self, database: Database) -> None:
        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "connect", self._on_connect)

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.commits, self.connects

    def _on_statement(self, *_args: Any) -> None:
        self.statements += 1

    def _on_commit(self, *_args: Any) -> None:
        self.commits += 1

    def _on_connect(self, *_args: Any) -> None:
        self.connects += 1


# ------------------------------------------------------------------ private servers

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A PostgreSQL cluster of our own: data and socket directories under ``root``, on
    ``port`` of 127.0.0.1, never the shared server. Start, stop and restart it at will;
    ``destroy`` stops it at once."""

    def __init__(self, root: Path, port: int, *, bin_dir: Path = POSTGRES_BIN) -> None:
        if port == 5432:
            raise SystemExit("a private cluster never takes 5432, the shared server's port")
        self.root = root
        self.port = port
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"

    def _run(self, *args: str, timeout_s: float = 120.0) -> None:
        done = subprocess.run(
            _as_postgres([str(self.bin_dir / args[0]), *args[1:]]),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} {args[1]} failed: {done.stdout}{done.stderr}")

    def init(self, **settings: str) -> None:
        """initdb (trust for local connections, no fsync at initdb) plus ``settings``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.sockets}'",
            *(f"{name} = {value}" for name, value in settings.items()),
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# bench\n" + "\n".join(lines) + "\n")

    def pg_ctl(self, action: str, *options: str) -> None:
        """``pg_ctl start|stop|restart`` on this cluster, waiting until it is done."""
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", *options)

    def start(self) -> None:
        self.pg_ctl("start", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, "-t", "60")

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("restart", "-m", mode, "-t", "60")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{database}"

    def destroy(self) -> None:
        """Stop the server if it runs (immediately) and delete its files."""
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A ``redis-server`` of our own on ``port`` of 127.0.0.1, keeping nothing on disk:
    stopped, it comes back empty, as a Redis without persistence does."""

    def __init__(self, root: Path, port: int) -> None:
        if port == 6379:
            raise SystemExit("a private Redis never takes 6379, the shared server's port")
        self.root = root
        self.port = port
        self.log = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout_s: float = 15.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server", "--port", str(self.port), "--bind", HOST,
                    "--save", "", "--appendonly", "no", "--dir", str(self.root),
                    "--daemonize", "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{tail(self.log)}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen in {timeout_s}s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
