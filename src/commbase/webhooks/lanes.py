"""The HTTP clients webhooks are sent with, as small connection pools ("lanes").

httpx's pool looks over every connection it holds, for each idle one again,
whenever a request starts or ends: its cost grows with the square of the pool's
size. Sends therefore go through small clients of ``LANE_CONNECTIONS``
connections each, as many as ``webhook_worker_concurrency`` needs. Every client
connects only through the SSRF guard (``transport.py``), never follows
redirects, ignores proxies from the environment and asks for unencoded answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpcore
import httpx

from commbase import __version__
from commbase.settings import Settings
from commbase.webhooks.ssrf import Resolver
from commbase.webhooks.transport import GuardedNetworkBackend, GuardedTransport

LANE_CONNECTIONS = 4


class Lanes:
    """``concurrency`` connection slots spread over small httpx clients.

    A send borrows a slot, preferring its origin's home lane so that keep-alive
    connections to one receiver collect in one small pool; when that lane is busy it
    takes the lane with the most free slots. No lane has more requests in flight
    than connections, and all lanes together at most ``concurrency``.
    """

    def __init__(self, clients: list[httpx.AsyncClient], concurrency: int) -> None:
        self.clients = clients
        self.free = [0] * len(clients)
        for n in range(concurrency):
            self.free[n % len(clients)] += 1
        self.gate = asyncio.Semaphore(concurrency)

    @contextlib.asynccontextmanager
    async def borrow(self, url: str) -> AsyncIterator[httpx.AsyncClient]:
        parts = urlsplit(url)
        await self.gate.acquire()
        try:
            # The gate guarantees a free slot somewhere; nothing awaits until it is taken.
            lane = hash((parts.scheme, parts.netloc)) % len(self.clients)
            if not self.free[lane]:
                lane = max(range(len(self.free)), key=self.free.__getitem__)
            self.free[lane] -= 1
            try:
                yield self.clients[lane]
            finally:
                self.free[lane] += 1
        finally:
            self.gate.release()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def open_lanes(
    settings: Settings,
    *,
    resolver: Resolver,
    network_backend: httpcore.AsyncNetworkBackend | None,
) -> Lanes:
    """Lanes for ``webhook_worker_concurrency`` sends at once, each client guarded."""
    concurrency = max(1, settings.webhook_worker_concurrency)
    lanes = math.ceil(concurrency / LANE_CONNECTIONS)
    # What each client would build for itself (certificates loaded once, not per lane).
    tls = httpx.create_ssl_context(trust_env=True)
    guard = GuardedNetworkBackend(
        allow_private=settings.webhooks_allow_private_urls,
        resolver=resolver,
        backend=network_backend,
    )
    clients = [
        httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=GuardedTransport(
                network_backend=guard,
                ssl_context=tls,
                limits=httpx.Limits(max_connections=LANE_CONNECTIONS),
            ),
            headers={
                "User-Agent": f"commbase-webhooks/{__version__}",
                "Accept-Encoding": "identity",
            },
        )
        for _ in range(lanes)
    ]
    return Lanes(clients, concurrency)
