"""On PostgreSQL: a campaign of 5,000 recipients sent by two runner processes, one of
them SIGKILLed while it holds a batch. Every recipient gets exactly one message; the
killed runner's batch is sent again under the same message ids; contacts who opted
out (before the start, or while it ran) get none."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.campaigns.outbound import message_id_of
from commbase.messaging.models import Message
from tests.identity.factories import make_tenant
from tests.messaging.campaigns.factories import add_contacts, make_account, opt_out

ROOT = Path(__file__).resolve().parents[3]
RECIPIENTS = 5000
WORKER = "tests.messaging.campaigns.worker_process"


def _spawn(url: str, worker_id: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, url, worker_id, str(log)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def _held_by(app: FastAPI, campaign_id: str, worker_id: str) -> int:
    async with app.state.db.sessionmaker() as session:
        found = await session.scalar(
            select(func.count(CampaignRecipient.id)).where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.claimed_by == worker_id,
                CampaignRecipient.status == "queued",
            )
        )
        return int(found or 0)


async def _status(app: FastAPI, campaign_id: str) -> str:
    async with app.state.db.sessionmaker() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return str(campaign.status)


async def test_two_runners_one_killed_send_each_recipient_once(
    stack: str, app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    if stack != "postgresql":
        pytest.skip("two runner processes need PostgreSQL's row locks")
    tenant = await make_tenant(app)
    account = await make_account(app, tenant.org_id)
    phones = [f"+1415{n:06d}0" for n in range(RECIPIENTS + 50)]
    contacts = await add_contacts(app, tenant.org_id, phones, labels=["blast"])
    await opt_out(app, tenant.org_id, contacts[:50])
    body = {
        "name": "Blast",
        "account_id": account,
        "template_name": "blast",
        "audience": {"kind": "labels", "labels": ["blast"]},
        "throttle_per_second": 500,
        "start": True,
    }
    created = await client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert created.json()["recipients_total"] == RECIPIENTS
    assert created.json()["skipped_opted_out"] == 50
    late = contacts[-20:]  # opt out after the start: skipped when their turn comes
    await opt_out(app, tenant.org_id, late)

    url = app.state.settings.database_url
    logs = {name: tmp_path / f"{name}.log" for name in ("doomed", "survivor")}
    doomed = _spawn(url, "doomed", logs["doomed"])
    survivor = _spawn(url, "survivor", logs["survivor"])
    try:
        deadline = time.monotonic() + 30
        while await _held_by(app, campaign_id, "doomed") == 0:
            assert time.monotonic() < deadline, "the doomed runner never claimed a batch"
            await asyncio.sleep(0.02)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        deadline = time.monotonic() + 40
        while await _status(app, campaign_id) != "completed":
            assert time.monotonic() < deadline, "the campaign did not complete"
            await asyncio.sleep(0.2)
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()

    async with app.state.db.sessionmaker() as session:
        messages = (
            await session.execute(
                select(Message.id, Message.contact_id, Message.status).where(
                    Message.campaign_id == campaign_id
                )
            )
        ).all()
        recipients = (
            await session.execute(
                select(
                    CampaignRecipient.id,
                    CampaignRecipient.contact_id,
                    CampaignRecipient.status,
                    CampaignRecipient.message_id,
                ).where(CampaignRecipient.campaign_id == campaign_id)
            )
        ).all()
        campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    per_contact: dict[str, int] = {}
    for message in messages:
        per_contact[str(message.contact_id)] = per_contact.get(str(message.contact_id), 0) + 1
    assert len(messages) == RECIPIENTS - len(late)
    assert set(per_contact.values()) == {1}
    assert {m.status for m in messages} == {"sent"}
    assert not set(per_contact) & set(contacts[:50] + late)
    by_status: dict[str, int] = {}
    for recipient in recipients:
        by_status[recipient.status] = by_status.get(recipient.status, 0) + 1
        if recipient.status == "sent":
            assert recipient.message_id == message_id_of(recipient.id)
    assert by_status == {"sent": RECIPIENTS - len(late), "skipped": len(late)}
    assert campaign.skipped_opted_out == 50 + len(late)

    # What reached the provider: the killed runner's last batch went out again from
    # the survivor under the same ids (the provider dedupes on them), nothing else twice.
    doomed_sent = logs["doomed"].read_text().split()
    survivor_sent = logs["survivor"].read_text().split()
    assert set(doomed_sent) | set(survivor_sent) == {m.id for m in messages}
    assert len(survivor_sent) == len(set(survivor_sent))
    retried = set(doomed_sent) & set(survivor_sent)
    assert retried, "the killed runner's batch was not taken over"
