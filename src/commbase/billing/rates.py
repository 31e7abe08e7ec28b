"""Per-minute rates by destination country and line type (``core.phones.LineType``).

A rate's ``direction`` is ``outbound`` (calls placed: the destination's country and
line type) or ``inbound`` (calls answered on the organization's numbers: the
caller's country). Each direction is looked up among its own rates only, in the
same order; an inbound call with no inbound rate is priced at
``COMMBASE_INBOUND_RATE_PER_MINUTE`` (a number's ``inbound_rate_per_minute`` comes
before either).

Which rate prices a call, most specific first:

1. the destination country and the number's line type;
2. for a ``fixed_line_or_mobile`` number (the US, Canada and other plans where a
   number does not tell mobile from landline) with no rate of its own: the
   higher of the country's ``mobile`` and ``landline`` rates, so such a call is
   never billed under what either kind of line costs;
3. the destination country, any line type (a rate with no line type);
4. steps 1 and 2 for rates set for any country (no country);
5. the organization's catch-all rate (no country, no line type);
6. the deployment's default rate (``COMMBASE_DEFAULT_RATE_PER_MINUTE``).

A rate is a price in its own currency. When the paying wallet's currency is
given, a rate in another currency is refused (409 ``conflict``), never billed
as if it were the wallet's money; commbase converts no currencies. The default
rate is in ``default_currency`` when one is given (else it is taken as the
wallet's currency).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.models import Rate
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.phones import LineType

# A number of this line type may be either of these; its price is the higher one.
_EITHER: dict[str, tuple[str, ...]] = {
    LineType.FIXED_LINE_OR_MOBILE: (LineType.MOBILE, LineType.LANDLINE)
}


def _tiers(rows: Sequence[Rate], country: str | None, line_type: str | None) -> list[list[Rate]]:
    """Candidate rates grouped from most to least specific (see the module docstring)."""
    either = _EITHER.get(line_type, ()) if line_type is not None else ()
    tiers: list[list[Rate]] = []
    for rate_country in (country, None) if country is not None else (None,):
        here = [r for r in rows if r.country == rate_country]
        tiers.append([r for r in here if line_type is not None and r.line_type == line_type])
        tiers.append([r for r in here if r.line_type in either])
        if rate_country is not None:
            tiers.append([r for r in here if r.line_type is None])
    tiers.append([r for r in rows if r.country is None and r.line_type is None])
    return [tier for tier in tiers if tier]


def best_rate(rows: Sequence[Rate], *, country: str | None, line_type: str | None) -> list[Rate]:
    """The most specific matching rates (two for a fixed-line-or-mobile number priced
    by its country's mobile and landline rates), or [] if none matches."""
    tiers = _tiers(rows, country, line_type)
    return tiers[0] if tiers else []


# Built once: every call placed reads it (building and keying a statement costs more
# CPU than running it). A NULL country matches only the rates for any country.
_CANDIDATES = select(Rate).where(
    Rate.org_id == bindparam("org_id"),
    Rate.direction == bindparam("direction"),
    (Rate.country == bindparam("country")) | Rate.country.is_(None),
)


async def rate_for(
    session: AsyncSession,
    *,
    org_id: str,
    country: str | None,
    line_type: str | None,
    default: Decimal,
    currency: str | None = None,
    default_currency: str | None = None,
    direction: str = "outbound",
) -> Decimal:
    """The per-minute price of a call to ``country`` / ``line_type`` (major units).

    With ``currency`` (the paying wallet's), a matching rate in another currency
    raises Conflict, and so does the default rate when ``default_currency`` is
    given and differs.
    """
    rows = (
        await session.scalars(
            _CANDIDATES, {"org_id": org_id, "direction": direction, "country": country}
        )
    ).all()
    return price_of(
        rows,
        country=country,
        line_type=line_type,
        default=default,
        currency=currency,
        default_currency=default_currency,
    )


def price_of(
    candidates: Sequence[Rate],
    *,
    country: str | None,
    line_type: str | None,
    default: Decimal,
    currency: str | None = None,
    default_currency: str | None = None,
) -> Decimal:
    """``rate_for``'s answer from rates already read: ``candidates`` are the
    organization's rates of one direction for ``country`` or for any country (as
    ``rate_for`` reads them; call placement reads them with its caller's row)."""
    chosen = best_rate(candidates, country=country, line_type=line_type)
    if not chosen:
        if currency is not None and default_currency is not None and default_currency != currency:
            raise Conflict(
                f"No rate in {currency} prices calls to this destination, and the default "
                f"rate is in {default_currency}; set a rate in {currency} (PUT /v1/rates)",
                wallet_currency=currency,
                rate_currency=default_currency,
            )
        return default
    if currency is not None:
        for rate in chosen:
            if rate.currency != currency:
                raise Conflict(
                    f"The rate for this destination is in {rate.currency} but the paying "
                    f"wallet holds {currency}; set a rate in {currency} (PUT /v1/rates)",
                    rate_id=rate.id,
                    rate_currency=rate.currency,
                    wallet_currency=currency,
                )
    return max(rate.per_minute for rate in chosen)


async def list_rates(
    session: AsyncSession, *, org_id: str, params: PageParams
) -> tuple[Sequence[Rate], str | None]:
    return await paginate(
        session, select(Rate).where(Rate.org_id == org_id), id_column=Rate.id, params=params
    )


async def set_rate(
    session: AsyncSession,
    *,
    org_id: str,
    country: str | None,
    line_type: str | None,
    per_minute: Decimal,
    currency: str,
    direction: str = "outbound",
) -> Rate:
    """Create or replace the rate for (direction, country, line type)."""
    statement = select(Rate).where(Rate.org_id == org_id, Rate.direction == direction)
    statement = statement.where(
        Rate.country.is_(None) if country is None else Rate.country == country,
        Rate.line_type.is_(None) if line_type is None else Rate.line_type == line_type,
    )
    rate = await session.scalar(statement)
    if rate is None:
        rate = Rate(org_id=org_id, direction=direction, country=country, line_type=line_type)
        session.add(rate)
    rate.per_minute = per_minute
    rate.currency = currency
    await session.flush()
    return rate


async def delete_rate(session: AsyncSession, *, org_id: str, rate_id: str) -> None:
    rate = await session.scalar(select(Rate).where(Rate.org_id == org_id, Rate.id == rate_id))
    if rate is None:
        raise NotFound("Rate not found")
    await session.delete(rate)
    await session.flush()
