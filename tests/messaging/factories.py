"""Builders for messaging tests: accounts over the API, signed WhatsApp webhooks in the
Cloud API's shapes, and running the send effect and the simulator."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.core.effects import EffectRunner
from commbase.messaging.providers.whatsapp import sign
from commbase.messaging.simulation import advance_simulated_messages
from tests.identity.factories import Tenant

APP_SECRET = "meta-app-secret-0123456789"
ACCESS_TOKEN = "EAAG-test-access-token"
WABA_ID = "102290129340398"


async def create_account(
    client: httpx.AsyncClient, tenant: Tenant, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "whatsapp", "name": "Support line", **fields}
    response = await client.post("/v1/channel-accounts", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def whatsapp_account(
    client: httpx.AsyncClient, tenant: Tenant, phone_number_id: str, **fields: Any
) -> dict[str, Any]:
    return await create_account(
        client,
        tenant,
        provider="whatsapp",
        phone_number_id=phone_number_id,
        display_phone_number="+1 555-010-0000",
        business_account_id=WABA_ID,
        app_secret=APP_SECRET,
        access_token=ACCESS_TOKEN,
        verify_token=f"verify-{phone_number_id}",
        **fields,
    )


def notification(phone_number_id: str, **value: Any) -> dict[str, Any]:
    """A Cloud API webhook envelope around one change's ``value``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100000",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def text_message(
    phone_number_id: str, *, wa_id: str, wamid: str, body: str, at: datetime, name: str = "Kerry"
) -> dict[str, Any]:
    return notification(
        phone_number_id,
        contacts=[{"profile": {"name": name}, "wa_id": wa_id}],
        messages=[
            {
                "from": wa_id,
                "id": wamid,
                "timestamp": str(int(at.timestamp())),
                "text": {"body": body},
                "type": "text",
            }
        ],
    )


def status_update(
    phone_number_id: str, *, wamid: str, status: str, at: datetime, wa_id: str, **extra: Any
) -> dict[str, Any]:
    return notification(
        phone_number_id,
        statuses=[
            {
                "id": wamid,
                "status": status,
                "timestamp": str(int(at.timestamp())),
                "recipient_id": wa_id,
                **extra,
            }
        ],
    )


async def post_signed(
    client: httpx.AsyncClient, payload: dict[str, Any], *, secret: str = APP_SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(
        "/v1/providers/whatsapp/webhook",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)},
    )


async def run_sends(app: FastAPI) -> int:
    runner = EffectRunner(app.state.db, services=app.state.job_services, worker_id="test-send")
    return await runner.run_once(only=["messaging.send"])


async def run_simulator(app: FastAPI, *, now: datetime) -> int:
    return await advance_simulated_messages(app.state.db, now=now)
