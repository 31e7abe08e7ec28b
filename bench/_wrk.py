"""Drive an HTTP endpoint with ``wrk`` (``apt-get install wrk``) and read its figures."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class WrkRun:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


async def run(
    url: str,
    *,
    headers: Mapping[str, str],
    connections: int,
    seconds: float,
    threads: int = 2,
) -> WrkRun:
    """``wrk --latency`` against ``url`` for ``seconds`` at ``connections``."""
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *command, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    text = out.decode()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode()}{text}")
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (done and rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: (.*)", text)
    socket_errors = sum(int(n) for n in re.findall(r"\d+", sockets.group(1))) if sockets else 0
    return WrkRun(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1e3,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


@dataclass
class Rounds:
    """Several ``wrk`` runs of one endpoint: throughput over all, the worst p99."""

    runs: list[WrkRun] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        requests = sum(r.requests for r in self.runs)
        seconds = sum(r.seconds for r in self.runs)
        p50s = sorted(r.p50_ms for r in self.runs)
        return {
            "requests": requests,
            "rps": round(requests / seconds, 1) if seconds else 0.0,
            "rps_per_round": [round(r.rps, 1) for r in self.runs],
            "p50_ms_median_round": round(p50s[len(p50s) // 2], 2) if p50s else None,
            "p99_ms_worst_round": round(max(r.p99_ms for r in self.runs), 2) if self.runs else None,
            "p99_ms_per_round": [round(r.p99_ms, 2) for r in self.runs],
            "errors": sum(r.non_2xx + r.socket_errors for r in self.runs),
        }
