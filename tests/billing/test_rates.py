"""Rates: one LineType for numbers and rates, how fixed-line-or-mobile numbers are
priced, and rates honour their currency."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from commbase.billing import rates
from commbase.core.errors import Conflict
from commbase.core.phones import LineType, parse_phone
from tests.billing.factories import open_wallet
from tests.calls.factories import place
from tests.identity.factories import make_tenant

UK_PREMIUM = "+449012345678"
UK_LANDLINE = "+441212345678"
US_NUMBER = "+12015550123"  # the US plan does not tell mobile from landline
DEFAULT = Decimal("0.125")


async def _set(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> None:
    response = await client.put("/v1/rates", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_premium_numbers_bill_at_their_premium_rate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await open_wallet(client, tenant.headers, amount=100_000)
    assert parse_phone(UK_PREMIUM).line_type == LineType.PREMIUM_RATE
    await _set(client, tenant.headers, country="GB", line_type="premium_rate", per_minute="1.5")
    await _set(client, tenant.headers, country="GB", line_type="landline", per_minute="0.02")
    premium = await place(client, tenant.headers, UK_PREMIUM, max_duration_s=120)
    assert premium.status_code == 201, premium.text
    assert premium.json()["rate_per_minute"] == "1.5"
    landline = await place(client, tenant.headers, UK_LANDLINE, max_duration_s=120)
    assert landline.json()["rate_per_minute"] == "0.02"


async def test_rate_line_types_are_the_numbers_line_types(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    refused = await client.put(
        "/v1/rates", json={"line_type": "fixed_line", "per_minute": "0.1"}, headers=tenant.headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "line_type"
    for line_type in LineType:
        await _set(client, tenant.headers, line_type=line_type.value, per_minute="0.1")
    listed = (await client.get("/v1/rates?limit=100", headers=tenant.headers)).json()["data"]
    assert sorted(r["line_type"] for r in listed) == sorted(t.value for t in LineType)


async def test_fixed_line_or_mobile_numbers_pay_the_higher_of_mobile_and_landline(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await open_wallet(client, tenant.headers, amount=100_000)
    await _set(client, tenant.headers, country="US", line_type="mobile", per_minute="0.04")
    await _set(client, tenant.headers, country="US", line_type="landline", per_minute="0.01")
    await _set(client, tenant.headers, country="US", per_minute="0.2")
    either = await place(client, tenant.headers, US_NUMBER, max_duration_s=60)
    assert either.status_code == 201, either.text
    assert either.json()["to_line_type"] == "fixed_line_or_mobile"
    assert either.json()["rate_per_minute"] == "0.04"
    # A rate of its own line type wins over mobile and landline.
    await _set(
        client, tenant.headers, country="US", line_type="fixed_line_or_mobile", per_minute="0.03"
    )
    own = await place(client, tenant.headers, US_NUMBER, max_duration_s=60)
    assert own.json()["rate_per_minute"] == "0.03"


async def test_matching_order_and_currency(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    await _set(client, tenant.headers, country="GB", per_minute="0.05", currency="EUR")
    await _set(client, tenant.headers, line_type="mobile", per_minute="0.3", currency="USD")
    await _set(client, tenant.headers, per_minute="0.2", currency="USD")
    async with app.state.db.sessionmaker() as session:

        async def rate(number: str, currency: str | None, **kw: str) -> Decimal:
            parsed = parse_phone(number)
            return await rates.rate_for(
                session,
                org_id=tenant.org_id,
                country=parsed.country,
                line_type=parsed.line_type,
                default=DEFAULT,
                currency=currency,
                **kw,
            )

        # Country beats line type; line type beats the catch-all.
        assert await rate(UK_LANDLINE, "EUR") == Decimal("0.05")
        assert await rate("+420601123456", "USD") == Decimal("0.3")
        assert await rate("+4930123456", "USD") == Decimal("0.2")
        # A EUR rate never bills a USD wallet as if it were dollars.
        with pytest.raises(Conflict) as refused:
            await rate(UK_LANDLINE, "USD")
        assert refused.value.extensions["rate_currency"] == "EUR"
        assert "EUR" in refused.value.detail
        assert "USD" in refused.value.detail
        with pytest.raises(Conflict):
            await rate("+420601123456", "JPY")
        # Without the wallet's currency (older callers) the rate applies as set.
        assert await rate(UK_LANDLINE, None) == Decimal("0.05")

    other = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        # No rate at all: the default, unless its currency is known to differ.
        assert (
            await rates.rate_for(
                session,
                org_id=other.org_id,
                country="GB",
                line_type="landline",
                default=DEFAULT,
                currency="JPY",
            )
            == DEFAULT
        )
        with pytest.raises(Conflict):
            await rates.rate_for(
                session,
                org_id=other.org_id,
                country="GB",
                line_type="landline",
                default=DEFAULT,
                currency="JPY",
                default_currency="USD",
            )
