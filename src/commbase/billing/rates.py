"""Per-minute rates by destination country and line type."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.models import Rate
from commbase.core.errors import NotFound


async def rate_for(
    session: AsyncSession,
    *,
    org_id: str,
    country: str | None,
    line_type: str | None,
    default: Decimal,
) -> Decimal:
    """The most specific matching rate: country and line type, country, line type,
    the organization's catch-all row, then ``default``."""
    rows = (
        await session.scalars(
            select(Rate).where(
                Rate.org_id == org_id,
                (Rate.country == country) | Rate.country.is_(None),
                (Rate.line_type == line_type) | Rate.line_type.is_(None),
            )
        )
    ).all()
    if not rows:
        return default
    best = max(rows, key=lambda r: (r.country is not None) * 2 + (r.line_type is not None))
    return best.per_minute


async def list_rates(session: AsyncSession, *, org_id: str) -> Sequence[Rate]:
    return (
        await session.scalars(
            select(Rate).where(Rate.org_id == org_id).order_by(Rate.country, Rate.line_type)
        )
    ).all()


async def set_rate(
    session: AsyncSession,
    *,
    org_id: str,
    country: str | None,
    line_type: str | None,
    per_minute: Decimal,
    currency: str,
) -> Rate:
    """Create or replace the rate for (country, line type)."""
    statement = select(Rate).where(Rate.org_id == org_id)
    statement = statement.where(
        Rate.country.is_(None) if country is None else Rate.country == country,
        Rate.line_type.is_(None) if line_type is None else Rate.line_type == line_type,
    )
    rate = await session.scalar(statement)
    if rate is None:
        rate = Rate(org_id=org_id, country=country, line_type=line_type)
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
