"""Channel accounts: create, list, read, change and remove; unique WhatsApp numbers and
verify tokens; business hours in the organization's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from commbase.messaging.accounts.service import within_business_hours
from commbase.messaging.models import ChannelAccount
from tests.messaging.conftest import World
from tests.messaging.factories import create_account, whatsapp_account


async def test_crud_and_isolation(world: World) -> None:
    hours = {"monday": [["09:00", "12:00"], ["13:00", "17:30"]]}
    created = await create_account(
        world.client, world.tenant, kind="telegram", name="Bot", business_hours=hours
    )
    assert created["provider"] == "simulator"
    assert created["business_hours"] == hours
    url = f"/v1/channel-accounts/{created['id']}"
    listed = await world.client.get(
        "/v1/channel-accounts", params={"kind": "telegram"}, headers=world.tenant.headers
    )
    assert created["id"] in [a["id"] for a in listed.json()["data"]]
    changed = await world.client.patch(
        url, json={"name": "Renamed", "status": "disabled"}, headers=world.tenant.headers
    )
    assert changed.json()["name"] == "Renamed"
    assert changed.json()["status"] == "disabled"
    assert (await world.client.get(url, headers=world.other.headers)).status_code == 404
    assert (await world.client.delete(url, headers=world.other.headers)).status_code == 404
    assert (await world.client.delete(url, headers=world.tenant.headers)).status_code == 204
    assert (await world.client.get(url, headers=world.tenant.headers)).status_code == 404


async def test_a_whatsapp_number_belongs_to_one_account(world: World) -> None:
    await whatsapp_account(world.client, world.tenant, "2000001")
    again = await world.client.post(
        "/v1/channel-accounts",
        json={
            "kind": "whatsapp",
            "name": "Copy",
            "provider": "whatsapp",
            "phone_number_id": "2000001",
            "app_secret": "another-secret-123",
            "access_token": "another-token-123",
            "verify_token": "another-verify-token",
        },
        headers=world.other.headers,
    )
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/already-exists"


def test_business_hours_are_read_in_the_organizations_zone() -> None:
    account = ChannelAccount(business_hours={"monday": [["09:00", "17:00"]]})
    # Monday 2026-11-23 07:30 UTC is 08:30 in Prague (closed), 08:30 UTC is 09:30 (open).
    early = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    open_ = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert not within_business_hours(account, at=early, timezone="Europe/Prague")
    assert within_business_hours(account, at=open_, timezone="Europe/Prague")
    late = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 17:30 in Prague
    assert within_business_hours(account, at=late, timezone="UTC")
    assert not within_business_hours(account, at=late, timezone="Europe/Prague")
    sunday = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert not within_business_hours(account, at=sunday, timezone="UTC")
    always = ChannelAccount(business_hours={})
    assert within_business_hours(always, at=sunday, timezone="UTC")
