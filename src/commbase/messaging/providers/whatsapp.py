"""The WhatsApp Cloud API: sending messages, and reading and verifying its webhooks.

Sending is ``POST https://graph.facebook.com/{version}/{phone_number_id}/messages``
with the account's access token. A 4xx answer is Meta refusing the message
(for example 131047: more than 24 hours since the contact's last message), which
sending again does not change; 429, 5xx and network failures are retried.

Webhooks are signed: ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the
raw body with the app secret.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from commbase.messaging.enums import ContentType, MessageStatus, ProviderName
from commbase.messaging.providers.base import (
    InboundMessage,
    Outbound,
    SendFailed,
    SendRefused,
    Sent,
    StatusReport,
)

GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
TIMEOUT_S = 10.0
_MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


def signature_is_valid(*, body: bytes, header: str | None, app_secret: str) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` Meta would send with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class WhatsAppProvider:
    name: str = ProviderName.WHATSAPP

    def __init__(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.transport = transport

    async def send(self, *, outbound: Outbound, attempt: int = 1) -> Sent:
        url = f"{GRAPH_URL}/{API_VERSION}/{self.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        async with httpx.AsyncClient(transport=self.transport, timeout=TIMEOUT_S) as client:
            try:
                response = await client.post(url, json=request_body(outbound), headers=headers)
            except httpx.HTTPError as exc:
                raise SendFailed(f"whatsapp unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise SendFailed(f"whatsapp answered {response.status_code}")
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise SendFailed(f"whatsapp answered {response.status_code} without JSON") from exc
        if response.status_code >= 400:
            error = data.get("error") or {}
            raise SendRefused(
                str(error.get("code", response.status_code)), error.get("message", "")
            )
        messages = data.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise SendFailed("whatsapp answered without a message id")
        return Sent(provider_message_id=str(messages[0]["id"]))


def request_body(outbound: Outbound) -> dict[str, Any]:
    """The Cloud API's JSON for one message."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": outbound.to.lstrip("+"),
    }
    if outbound.reply_to_provider_id:
        body["context"] = {"message_id": outbound.reply_to_provider_id}
    if outbound.content_type == ContentType.TEMPLATE:
        template: dict[str, Any] = {
            "name": outbound.template_name,
            "language": {"code": outbound.template_language or "en_US"},
        }
        if outbound.template_parameters:
            parameters = [{"type": "text", "text": p} for p in outbound.template_parameters]
            template["components"] = [{"type": "body", "parameters": parameters}]
        return {**body, "type": "template", "template": template}
    if outbound.content_type == ContentType.MEDIA:
        kind = (outbound.media_type or "").split("/", 1)[0]
        kind = kind if kind in ("image", "video", "audio") else "document"
        media: dict[str, Any] = {"link": outbound.media_url}
        if outbound.body and kind != "audio":
            media["caption"] = outbound.body
        return {**body, "type": kind, kind: media}
    if outbound.content_type == ContentType.LOCATION:
        return {**body, "type": "location", "location": outbound.metadata.get("location", {})}
    if outbound.content_type == ContentType.INTERACTIVE:
        return {**body, "type": "interactive", "interactive": outbound.metadata.get("interactive")}
    return {**body, "type": "text", "text": {"preview_url": False, "body": outbound.body or ""}}


# ------------------------------------------------------------------ webhooks


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Metadata(_Loose):
    phone_number_id: str
    display_phone_number: str | None = None


class _Value(_Loose):
    messaging_product: str | None = None
    metadata: _Metadata
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    statuses: list[dict[str, Any]] = Field(default_factory=list)


class _Change(_Loose):
    field: str
    value: _Value


class _Entry(_Loose):
    id: str
    changes: list[_Change] = Field(default_factory=list)


class WebhookPayload(_Loose):
    """The envelope of a Cloud API webhook (``object: whatsapp_business_account``)."""

    object: str
    entry: list[_Entry] = Field(default_factory=list)

    def phone_number_ids(self) -> set[str]:
        return {c.value.metadata.phone_number_id for e in self.entry for c in e.changes}


def _time(timestamp: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


def _status(raw: dict[str, Any]) -> StatusReport | None:
    status = _STATUSES.get(str(raw.get("status")))
    if status is None or not raw.get("id"):
        return None
    errors = raw.get("errors") or [{}]
    error = errors[0] if isinstance(errors[0], dict) else {}
    details = (error.get("error_data") or {}).get("details")
    return StatusReport(
        provider_message_id=str(raw["id"])[:200],
        status=status,
        at=_time(raw.get("timestamp")),
        error_code=str(error["code"])[:40] if "code" in error else None,
        error_message=(details or error.get("title") or error.get("message") or None),
    )


def _inbound(raw: dict[str, Any], names: dict[str, str]) -> InboundMessage | None:
    if not raw.get("id") or not raw.get("from"):
        return None
    kind = str(raw.get("type", "text"))
    sender = str(raw["from"])
    common: dict[str, Any] = {
        "provider_message_id": str(raw["id"])[:200],
        "from_phone": "+" + sender.lstrip("+"),
        "from_name": names.get(sender),
        "at": _time(raw.get("timestamp")),
        "reply_to_provider_id": (raw.get("context") or {}).get("id"),
    }
    if kind == "text":
        return InboundMessage(
            content_type=ContentType.TEXT, body=(raw.get("text") or {}).get("body"), **common
        )
    if kind in _MEDIA_KINDS:
        media = raw.get(kind) or {}
        return InboundMessage(
            content_type=ContentType.MEDIA,
            body=media.get("caption"),
            media_type=media.get("mime_type"),
            metadata={"media_id": media.get("id"), "kind": kind},
            **common,
        )
    if kind == "location":
        return InboundMessage(
            content_type=ContentType.LOCATION, metadata={"location": raw.get("location")}, **common
        )
    if kind in ("interactive", "button"):
        payload = raw.get(kind) or {}
        reply = payload.get("button_reply") or payload.get("list_reply") or payload
        return InboundMessage(
            content_type=ContentType.INTERACTIVE,
            body=reply.get("title") or reply.get("text"),
            metadata={kind: payload},
            **common,
        )
    return InboundMessage(content_type=ContentType.TEXT, metadata={"unsupported": kind}, **common)


def parse_changes(
    payload: WebhookPayload,
) -> list[tuple[str, list[InboundMessage], list[StatusReport]]]:
    """Per change: the phone number id, its inbound messages and status reports."""
    parsed = []
    for entry in payload.entry:
        for change in entry.changes:
            if change.field != "messages":
                continue
            value = change.value
            names = {
                str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))[:200]
                for c in value.contacts
                if isinstance(c, dict)
            }
            inbound = [m for raw in value.messages if (m := _inbound(raw, names)) is not None]
            statuses = [s for raw in value.statuses if (s := _status(raw)) is not None]
            parsed.append((value.metadata.phone_number_id, inbound, statuses))
    return parsed
