"""Builders for campaign tests: a channel account, many contacts, opt-outs, and a
runner that sends through the simulator provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert

from commbase.contacts.models import Contact
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.messaging.campaigns.runner import CampaignRunner
from commbase.messaging.campaigns.sending import provider_sender
from commbase.messaging.models import ChannelAccount, OptOut


async def make_account(app: FastAPI, org_id: str, **fields: Any) -> str:
    """A simulator WhatsApp account that may send fast (the campaign's throttle rules)."""
    values: dict[str, Any] = {
        "kind": "whatsapp",
        "name": "Support line",
        "provider": "simulator",
        "send_rate_per_minute": 100_000,
        **fields,
    }
    async with app.state.db.sessionmaker() as session:
        account = ChannelAccount(org_id=org_id, **values)
        session.add(account)
        await session.commit()
        return account.id


async def add_contacts(
    app: FastAPI,
    org_id: str,
    phones: Sequence[str | None],
    *,
    labels: Sequence[str] = ("vip",),
    blocked: Sequence[bool] | None = None,
) -> list[str]:
    """Contacts with these numbers (in one insert), returned in the same order."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("cnt"),
            "org_id": org_id,
            "name": f"Customer {index}",
            "search_name": f"customer {index}",
            "phone": phone,
            "labels": list(labels),
            "metadata_": {},
            "attributes": {},
            "blocked": bool(blocked[index]) if blocked else False,
            "created_at": now,
            "updated_at": now,
        }
        for index, phone in enumerate(phones)
    ]
    async with app.state.db.sessionmaker() as session:
        for offset in range(0, len(rows), 1000):
            await session.execute(insert(Contact), rows[offset : offset + 1000])
        await session.commit()
    return [str(row["id"]) for row in rows]


async def opt_out(app: FastAPI, org_id: str, contact_ids: Sequence[str]) -> None:
    async with app.state.db.sessionmaker() as session:
        for contact_id in contact_ids:
            session.add(OptOut(org_id=org_id, contact_id=contact_id, source="manual"))
        await session.commit()


def runner_for(app: FastAPI, *, worker_id: str = "test-runner") -> CampaignRunner:
    settings = app.state.settings
    return CampaignRunner(
        app.state.db,
        provider_sender(server_secret=settings.secret_key.get_secret_value()),
        worker_id=worker_id,
    )
