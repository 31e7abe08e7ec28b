"""The HTTP transport webhooks are sent through: it connects only to checked addresses.

httpx hands the URL's host name to httpcore, and httpcore asks its network
backend for a TCP connection to that name. ``GuardedNetworkBackend`` is that
backend: it resolves the name once, refuses the connection unless every answer
is allowed (``ssrf.allowed_addresses``), and opens the socket to one of those
very addresses. Everything above the socket is unchanged: the ``Host`` header
is the URL's host, and TLS sends the URL's host name as SNI and verifies the
certificate against it. A name that answers differently at each lookup (DNS
rebinding) therefore cannot steer a connection to an address that was not
checked. No proxy from the environment is used (a proxy would resolve the name
itself).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from commbase.webhooks.ssrf import Resolver, allowed_addresses, system_resolve

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the SSRF guard allows, resolving once."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolve,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await allowed_addresses(
            host, port, allow_private=self.allow_private, resolver=self.resolver
        )
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # allowed_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (same pooling, errors and streaming) over the guarded backend."""

    def __init__(
        self,
        *,
        network_backend: GuardedNetworkBackend,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx offers no way to pass a network backend to the pool it builds, so the
        # (still unused) pool is replaced by the same pool over the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
