"""A real HTTP receiver on 127.0.0.1 that verifies deliveries as a customer's code would."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    event_type: str | None
    verified_with: list[str]
    body: dict[str, Any] | None
    headers: dict[str, str]


@dataclass
class Receiver:
    """Records every request; answers with the scripted statuses, then 200."""

    secrets: list[str] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # TLS only: the server name (SNI) each client asked for.
    server_names: list[str | None] = field(default_factory=list)
    # While ``hold`` is set, each request waits (up to 10 s) for ``go`` before it is
    # answered; ``holding`` is set once one does.
    hold: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def url_for(self, host: str, scheme: str = "http") -> str:
        """This receiver's URL under another name (which a test's DNS points here)."""
        return f"{scheme}://{host}:{self.port}/hooks"

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            return self.script.pop(0) if self.script else (200, {})

    def ids(self) -> list[str]:
        with self.lock:
            return [r.webhook_id for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = []
            for secret in receiver.secrets:
                try:
                    Webhook(secret).verify(raw, headers)
                    verified.append(secret)
                except WebhookVerificationError:
                    pass
            body = json.loads(raw) if raw else None
            with receiver.lock:
                receiver.received.append(
                    Received(
                        webhook_id=headers.get("webhook-id", ""),
                        event_type=(body or {}).get("type"),
                        verified_with=verified,
                        body=body,
                        headers=headers,
                    )
                )
            if receiver.hold.is_set():
                receiver.holding.set()
                receiver.go.wait(10)
            status, extra = receiver.answer()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) refuses connections when workers send in parallel.
    request_queue_size = 512
    daemon_threads = True


@contextmanager
def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1; with ``tls``, an HTTPS one serving that context's certificate."""
    receiver = Receiver()
    server = _Server(("127.0.0.1", 0), _handler(receiver))
    receiver.port = server.server_address[1]
    if tls is not None:

        def note_server_name(_sock: object, name: str | None, _ctx: object) -> None:
            with receiver.lock:
                receiver.server_names.append(name)

        tls.sni_callback = note_server_name
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
