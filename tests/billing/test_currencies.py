"""Money in every currency: ISO 4217 minor units (TND has 1000 millimes, JPY no minor
unit), unknown codes refused wherever a currency is accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.money import cost_of, exponent, minutes_affordable, to_major, to_minor
from commbase.core.time import FrozenClock, use_clock
from tests.billing.factories import entries, open_wallet, shown
from tests.calls.factories import ANSWERED_94S, place, run_clock
from tests.identity.factories import make_tenant


def test_minor_units_come_from_iso_4217() -> None:
    assert (exponent("USD"), exponent("JPY"), exponent("TND"), exponent("CLF")) == (2, 0, 3, 4)
    assert to_minor(Decimal("1"), "TND") == 1000
    assert to_minor(Decimal("1"), "JPY") == 1
    assert to_major(1500, "TND") == Decimal("1.5")
    # 2 minutes at 0.125 TND: 250 millimes, not 25 "cents"; at 3 yen: 6 yen.
    assert cost_of(2, Decimal("0.125"), "TND") == 250
    assert cost_of(2, Decimal("3"), "JPY") == 6
    assert minutes_affordable(1000, Decimal("0.125"), "TND") == 8


async def _call_costs(
    app: FastAPI, client: httpx.AsyncClient, *, currency: str, top_up: int, rate: str
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Fund a wallet in ``currency``, price US calls at ``rate`` in it, and let one
    94-second (2 billable minutes) call finish."""
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        wallet = await open_wallet(client, tenant.headers, amount=top_up, currency=currency)
        priced = await client.put(
            "/v1/rates",
            json={"country": "US", "per_minute": rate, "currency": currency},
            headers=tenant.headers,
        )
        assert priced.status_code == 200, priced.text
        call = await place(client, tenant.headers, ANSWERED_94S)
        assert call.status_code == 201, call.text
        await run_clock(app, clock, 110, step=5)
    return await shown(client, tenant.headers, wallet["id"]), await entries(
        client, tenant.headers, wallet["id"]
    )


async def test_a_call_paid_in_dinars_costs_millimes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    wallet, ledger = await _call_costs(app, client, currency="TND", top_up=5000, rate="0.125")
    assert ledger[0]["category"] == "call_charge"
    assert (ledger[0]["amount"], ledger[0]["currency"]) == (250, "TND")
    assert (wallet["balance"], wallet["held"]) == (5000 - 250, 0)


async def test_a_call_paid_in_yen_costs_whole_yen(app: FastAPI, client: httpx.AsyncClient) -> None:
    wallet, ledger = await _call_costs(app, client, currency="JPY", top_up=500, rate="3")
    assert (ledger[0]["amount"], ledger[0]["currency"]) == (6, "JPY")
    assert (wallet["balance"], wallet["held"]) == (494, 0)


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "usd", "US"])
async def test_unknown_currencies_are_refused_everywhere(
    app: FastAPI, client: httpx.AsyncClient, code: str
) -> None:
    tenant = await make_tenant(app)
    attempts = [
        ("POST", "/v1/wallets", {"currency": code}),
        ("PUT", "/v1/rates", {"per_minute": "0.1", "currency": code}),
        ("PATCH", "/v1/organizations/current", {"currency": code}),
        ("GET", f"/v1/reports/revenue?currency={code}", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (path, response.text)
        problem = response.json()
        assert problem["type"] == "/problems/validation-failed"
        assert [e["field"] for e in problem["errors"]] == ["currency"], (path, problem)
    assert (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"] == []
    assert (await client.get("/v1/rates", headers=tenant.headers)).json()["data"] == []


async def test_the_openapi_lists_the_currencies_it_accepts(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    wallet_create = schema["components"]["schemas"]["WalletCreate"]["properties"]["currency"]
    assert {"USD", "JPY", "TND"} <= set(wallet_create["enum"])
    assert "ZZZ" not in wallet_create["enum"]
    assert "XAU" not in wallet_create["enum"]
