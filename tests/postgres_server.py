"""A private PostgreSQL cluster that a test can stop and start again.

Tests of database outages must never stop the shared server: each module that needs
one gets its own cluster (``initdb`` in a temporary directory, on a free port of
127.0.0.1, run as the ``postgres`` user when the tests run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster under ``directory``; ``start``, ``stop``, ``start`` again."""

    def __init__(self, directory: Path) -> None:
        """``directory`` (which the ``postgres`` user must be able to reach) holds the
        cluster's data, socket and log."""
        found = [d for d in BIN_DIRS if (d / "initdb").exists()]
        if not found:
            pytest.skip("PostgreSQL's initdb is not installed")
        self.bin = found[0]
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(directory, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", "60",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once: sessions in progress are terminated, as in a restart."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def destroy(self) -> None:
        """Stop the cluster if it runs and remove its files."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.directory, ignore_errors=True)
