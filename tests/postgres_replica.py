"""A throwaway PostgreSQL primary and a streaming replica of it, on two free ports.

The primary is ``initdb``'d with replication allowed (trust on 127.0.0.1, as
``initdb -A trust`` writes it, ``wal_level = replica``); the replica is made from it by
``pg_basebackup -R -X stream`` (``-R`` writes ``standby.signal`` and
``primary_conninfo``) and runs as a hot standby. Both run as the ``postgres`` user when
started as root, in a directory of their own: several pairs (pytest workers, a benchmark)
run side by side, and the machine's main cluster on 5432 is never touched.

As a script it starts a pair, prints both URLs and keeps it until Ctrl-C::

    .venv/bin/python -m tests.postgres_replica [--dir /tmp/pair]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class MissingPostgres(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """One cluster (data directory, port, log) under ``directory``."""

    def __init__(self, bin_dir: Path, directory: Path, port: int) -> None:
        self.bin = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> str:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self.run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", "60",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log_size(self) -> int:
        log = self.directory / "log"
        return log.stat().st_size if log.exists() else 0

    def log_since(self, offset: int) -> str:
        """What the server logged after ``offset`` (a ``log_size()``)."""
        with (self.directory / "log").open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql; its unaligned, tuples-only output."""
        return self.run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
            "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ).strip()  # fmt: skip


class StreamingPair:
    """A primary and a hot-standby replica streaming from it."""

    def __init__(self, directory: Path | None = None, *, log_statements: bool = False) -> None:
        """With ``log_statements`` both servers log every statement with the client's
        ``application_name`` (what tests read to see which server answered)."""
        self.log_statements = log_statements
        found = [d for d in BIN_DIRS if (d / "pg_basebackup").exists()]
        if not found:
            raise MissingPostgres("PostgreSQL's server binaries are not installed")
        self.directory = directory or Path(tempfile.mkdtemp(prefix="commbase-pair-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        primary_dir, replica_dir = self.directory / "primary", self.directory / "replica"
        for path in (self.directory, primary_dir, replica_dir):
            path.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self.primary = Cluster(found[0], primary_dir, _free_port())
        self.replica = Cluster(found[0], replica_dir, _free_port())

    def start(self) -> StreamingPair:
        """initdb the primary, start it, clone the replica with pg_basebackup, start it."""
        primary = self.primary
        primary.run(
            "initdb", "-D", str(primary.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# streaming pair\nwal_level = replica\nmax_wal_senders = 4\n"
                "fsync = off\nsynchronous_commit = on\nfull_page_writes = off\n"
                "shared_buffers = 32MB\nhot_standby = on\nhot_standby_feedback = on\n"
                "max_standby_streaming_delay = 30s\nwal_receiver_status_interval = 1s\n"
            )
            if self.log_statements:
                conf.write("log_statement = 'all'\nlog_line_prefix = '%m [%p] %a '\n")
        primary.start()
        self.replica.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(self.replica.data), "-R", "-X", "stream", "--no-sync", "-c", "fast",
        )  # fmt: skip
        self.replica.data.chmod(0o700)
        self.replica.start()
        self.wait_caught_up()
        return self

    def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the replica has replayed everything the primary has flushed."""
        target = self.primary.psql("SELECT pg_current_wal_flush_lsn()")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = self.replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if done == "t":
                return
            time.sleep(0.02)
        raise RuntimeError(f"the replica did not replay up to {target} in {timeout_s} s")

    def create_database(self, name: str) -> None:
        """CREATE DATABASE on the primary, and wait until the replica has it."""
        self.primary.psql(f'CREATE DATABASE "{name}"')
        self.wait_caught_up()

    def pause_replay(self) -> None:
        self.replica.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.psql("SELECT pg_wal_replay_resume()")

    def destroy(self) -> None:
        """Stop both servers at once and remove their files."""
        for cluster in (self.replica, self.primary):
            if cluster.running():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    cluster.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where both clusters live")
    args = parser.parse_args()
    pair = StreamingPair(args.dir).start()
    print(f"primary: {pair.primary.url()}\nreplica: {pair.replica.url()}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        pair.destroy()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
