"""Outgoing email: a message with a plain-text part (and HTML), sent through SMTP
with aiosmtplib, or, where no SMTP server is configured (development), written
to a folder as an ``.eml`` file and logged.

Callers never send from a request: a domain records an outbox event and an
effect builds the message and calls ``deliver`` once the change has committed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

import aiosmtplib
import structlog

log = structlog.get_logger("commbase.email")

SmtpSecurity = Literal["none", "starttls", "tls"]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where mail goes: ``host`` None means the development folder ``folder``."""

    host: str | None
    port: int
    username: str | None
    password: str | None
    security: SmtpSecurity
    sender: str
    folder: str
    timeout_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    # Stable per logical message (derived from the row that asked for it), so a
    # retried effect sends a message receivers can recognise as the same one.
    message_id: str | None = None


def build_message(mail: Mail, *, sender: str) -> EmailMessage:
    """The MIME message: text/plain, with a text/html alternative when given."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = (
        f"<{mail.message_id}@{domain}>" if mail.message_id else make_msgid(domain=domain)
    )
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _write(folder: Path, name: str, content: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return str(path)


async def deliver(mail: Mail, *, config: SmtpConfig) -> str:
    """Send ``mail``; returns where it went (``smtp:<host>`` or the file written).
    Raises on a refused or failed SMTP conversation, so the effect retries."""
    message = build_message(mail, sender=config.sender)
    if config.host is None:
        name = _SAFE_NAME.sub("_", mail.message_id or message["Message-ID"].strip("<>"))
        path = await asyncio.to_thread(_write, Path(config.folder), f"{name}.eml", bytes(message))
        log.info("email written", to=mail.to, subject=mail.subject, path=path)
        return path
    await aiosmtplib.send(
        message,
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.security == "tls",
        start_tls=config.security == "starttls",
        timeout=config.timeout_s,
    )
    log.info("email sent", to=mail.to, subject=mail.subject, host=config.host)
    return f"smtp:{config.host}"
