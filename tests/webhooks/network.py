"""The network around a dispatcher in tests: a scripted DNS, a socket-level recorder,
and raw HTTP servers that misbehave (trickle, stream without end)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpcore

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
Behaviour = Callable[[socket.socket, "RawServer"], None]


class FakeDns:
    """Answers lookups from a script: per name, one answer per lookup, the last repeating.

    ``FakeDns({"hooks.example.com": [["93.184.216.34"], ["127.0.0.1"]]})`` answers a
    public address at the first lookup and 127.0.0.1 at every later one (DNS rebinding).
    """

    def __init__(self, script: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.script = {name: list(answers) for name, answers in (script or {}).items()}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self.script.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers.pop(0) if len(answers) > 1 else answers[0])


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """The real socket opener, noting every (address, port) it is asked to connect to."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connections: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connections.append((host, port))
        return await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("not in tests")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass
class RawServer:
    """A TCP listener on 127.0.0.1 that answers each request with ``behaviour``."""

    behaviour: Behaviour
    port: int = 0
    accepted: int = 0
    bytes_sent: int = 0
    # Seconds from a connection's first answer byte until the peer went away.
    lasted_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: threading.Event = field(default_factory=threading.Event)  # a connection ended

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def first_served(self, timeout_s: float = 5.0) -> bool:
        """Wait (without blocking the loop) until a connection has been served."""
        return await asyncio.to_thread(self.served.wait, timeout_s)

    def sent(self, count: int) -> None:
        with self.lock:
            self.bytes_sent += count


def read_request(conn: socket.socket) -> None:
    """Read one request (headers and a Content-Length body) from the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


def trickle(chunks: Iterable[bytes], interval_s: float) -> Behaviour:
    """Send each chunk ``interval_s`` apart until the peer goes away."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        started = time.monotonic()
        try:
            for chunk in chunks:
                conn.sendall(chunk)
                server.sent(len(chunk))
                time.sleep(interval_s)
        except OSError:
            pass
        server.lasted_s.append(time.monotonic() - started)

    return behaviour


def endless_body(declared: int) -> Behaviour:
    """A 200 declaring ``declared`` bytes, then that many as fast as the peer reads."""
    chunk = b"a" * 65536

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        started = time.monotonic()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode()
        try:
            conn.sendall(head)
            left = declared
            while left > 0:
                sent = conn.send(chunk[: min(left, len(chunk))])
                server.sent(sent)
                left -= sent
        except OSError:
            pass
        server.lasted_s.append(time.monotonic() - started)

    return behaviour


def answer(raw: bytes) -> Behaviour:
    """Answer every request with these exact bytes."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(raw)
        server.sent(len(raw))

    return behaviour


@contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[RawServer]:
    server = RawServer(behaviour)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    server.port = listener.getsockname()[1]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            # A small send buffer: what was sent is close to what the peer took.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            behaviour(conn, server)
        server.served.set()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with server.lock:
                server.accepted += 1
            conn.settimeout(30)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        listener.close()
