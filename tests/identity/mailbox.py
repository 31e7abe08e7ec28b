"""A real SMTP server (aiosmtpd) on a free local port that keeps what it receives,
and a helper that runs the account mailer effect the way a worker does."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from commbase.core.effects import EffectRunner
from commbase.identity.email.effects import CONSUMER

LINK = re.compile(r"https?://\S+\?token=([A-Za-z0-9_-]+)")


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, smtp_session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


async def send_mail(app: FastAPI) -> int:
    """Run the account mailer once over committed events; returns how many it handled."""
    runner = EffectRunner(app.state.db, services=app.state.job_services)
    return await runner.run_once(only=[CONSUMER])
