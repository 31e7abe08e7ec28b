"""A local HTTP server that answers the Stripe API calls commbase makes, the way
Stripe does: PaymentIntents and Refunds, replaying the first answer for a repeated
``Idempotency-Key``. Tests point the real ``stripe`` SDK at it
(``COMMBASE_STRIPE_API_BASE``) and read what arrived."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Arrived:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def api_key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


@dataclass
class FakeStripe:
    """Records every request. ``intent_status`` is what new PaymentIntents answer;
    ``decline`` makes them fail as a declined card; ``refund_status`` for refunds."""

    port: int = 0
    intent_status: str = "succeeded"
    decline: str | None = None
    refund_status: str = "succeeded"
    arrived: list[Arrived] = field(default_factory=list)
    created: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Arrived]:
        with self.lock:
            return [a for a in self.arrived if a.path == path]

    def objects_created(self, path: str) -> int:
        """How many objects were really created at ``path`` (replays aside)."""
        with self.lock:
            return sum(1 for key in self.created if key.startswith(f"{path} "))

    def answer(self, request: Arrived) -> tuple[int, dict[str, Any]]:
        key = f"{request.path} {request.headers.get('idempotency-key') or next(self._ids)}"
        with self.lock:
            self.arrived.append(request)
            if key in self.created:
                return self.created[key]
            number = next(self._ids)
            if request.path == "/v1/payment_intents":
                answer = self._intent(request.form, number)
            elif request.path == "/v1/refunds":
                answer = self._refund(request.form, number)
            else:
                answer = (404, {"error": {"type": "invalid_request_error", "message": "no"}})
            self.created[key] = answer
            return answer

    def _intent(self, form: dict[str, str], number: int) -> tuple[int, dict[str, Any]]:
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent = {
            "id": f"pi_fake{number}",
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": int(form["amount"]) if self.intent_status == "succeeded" else 0,
            "currency": form["currency"],
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "client_secret": f"pi_fake{number}_secret_x",
            "status": self.intent_status,
            "metadata": metadata,
            "livemode": False,
        }
        if self.decline:
            intent["status"] = "requires_payment_method"
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": self.decline,
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
        return 200, intent

    def _refund(self, form: dict[str, str], number: int) -> tuple[int, dict[str, Any]]:
        return 200, {
            "id": f"re_fake{number}",
            "object": "refund",
            "amount": int(form["amount"]),
            "payment_intent": form["payment_intent"],
            "status": self.refund_status,
            "failure_reason": "expired_or_canceled_card"
            if self.refund_status == "failed"
            else None,
        }


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode()
            request = Arrived(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                form=dict(parse_qsl(raw, keep_blank_values=True)),
            )
            status, body = fake.answer(request)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", "req_fake")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
