"""Channel accounts: create, read, change, remove; find one for a provider's webhook;
business hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.analytics.sql import hour_of, hour_start
from commbase.core.errors import AlreadyExists, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.messaging import metrics
from commbase.messaging.accounts import credentials
from commbase.messaging.accounts.schemas import (
    WEEKDAYS,
    ChannelAccountCreate,
    ChannelAccountRead,
    ChannelAccountUpdate,
)
from commbase.messaging.enums import ChannelKind
from commbase.messaging.models import ChannelAccount


def read(account: ChannelAccount) -> ChannelAccountRead:
    return ChannelAccountRead(
        id=account.id,
        kind=account.kind,
        name=account.name,
        status=account.status,
        provider=account.provider,
        business_hours=account.business_hours,
        phone_number_id=account.phone_number_id,
        display_phone_number=account.display_phone_number,
        business_account_id=account.business_account_id,
        has_app_secret=account.app_secret_encrypted is not None,
        has_access_token=account.access_token_encrypted is not None,
        verify_token=account.verify_token,
        send_rate_per_minute=account.send_rate_per_minute,
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


async def _flush_unique(session: AsyncSession, account: ChannelAccount) -> None:
    """Write the account; AlreadyExists when its phone number id or verify token is taken."""
    try:
        async with session.begin_nested():
            session.add(account)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(
            "Another channel account already uses this phone_number_id or verify_token"
        ) from exc


async def create_account(
    session: AsyncSession, *, org_id: str, data: ChannelAccountCreate, server_secret: str
) -> ChannelAccount:
    """Add a channel account; its secrets are stored encrypted."""
    account = ChannelAccount(
        org_id=org_id,
        kind=data.kind,
        name=data.name,
        provider=data.provider,
        business_hours=data.model_dump(mode="json")["business_hours"],
        phone_number_id=data.phone_number_id,
        display_phone_number=data.display_phone_number,
        business_account_id=data.business_account_id,
        verify_token=data.verify_token,
        send_rate_per_minute=data.send_rate_per_minute,
    )
    if data.app_secret is not None:
        account.app_secret_encrypted = credentials.encrypt(
            data.app_secret, server_secret=server_secret
        )
    if data.access_token is not None:
        account.access_token_encrypted = credentials.encrypt(
            data.access_token, server_secret=server_secret
        )
    await _flush_unique(session, account)
    return account


async def get_account(session: AsyncSession, *, org_id: str, account_id: str) -> ChannelAccount:
    account = await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.org_id == org_id, ChannelAccount.id == account_id
        )
    )
    if account is None:
        raise NotFound("Channel account not found")
    return account


async def check_account(
    session: AsyncSession, *, org_id: str, account_id: str, field: str = "account_id"
) -> ChannelAccount:
    """The account ``account_id`` of the organization, or a 422 naming the query field
    (analytics' ``account_id`` must name one of the organization's channel accounts)."""
    account = await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.org_id == org_id, ChannelAccount.id == account_id
        )
    )
    if account is None:
        raise invalid(
            f"{field} is not a channel account of this organization", field, location="query"
        )
    return account


ACCOUNT_PREFIX = "chan_"


async def check_analytics_account(session: AsyncSession, *, org_id: str, account_id: str) -> None:
    """Analytics' ``account_id``: an id of the channel account form (``chan_...``) must
    name one of the organization's channel accounts (404 otherwise, another
    organization's included). Any other id is an external account reference that
    tracked events carry free-form (``POST /v1/events``), and is left as it is."""
    if account_id.startswith(ACCOUNT_PREFIX):
        await get_account(session, org_id=org_id, account_id=account_id)


async def list_accounts(
    session: AsyncSession, *, org_id: str, params: PageParams, kind: ChannelKind | None = None
) -> tuple[Sequence[ChannelAccount], str | None]:
    statement = select(ChannelAccount).where(ChannelAccount.org_id == org_id)
    if kind is not None:
        statement = statement.where(ChannelAccount.kind == kind)
    return await paginate(session, statement, id_column=ChannelAccount.id, params=params)


async def update_account(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    changes: ChannelAccountUpdate,
    server_secret: str,
) -> ChannelAccount:
    data = changes.model_dump(mode="json", exclude_unset=True)
    for secret_field in ("app_secret", "access_token"):
        if secret_field in data:
            value = data.pop(secret_field)
            encrypted = (
                None if value is None else credentials.encrypt(value, server_secret=server_secret)
            )
            setattr(account, f"{secret_field}_encrypted", encrypted)
    for field, value in data.items():
        setattr(account, field, value)
    await _flush_unique(session, account)
    return account


async def delete_account(session: AsyncSession, *, account: ChannelAccount) -> None:
    """Remove the account with its conversations, messages and campaigns (deleted by
    their foreign keys): their hours are touched first, so rollups stop counting them."""
    dialect = session.get_bind().dialect.name
    for source in (metrics.CONVERSATIONS, metrics.MESSAGES, metrics.CAMPAIGNS):
        assert source.account is not None
        hours = await session.scalars(
            select(hour_of(source.time, dialect))
            .where(source.org == account.org_id, source.account == account.id)
            .distinct()
        )
        await touches.touch(
            session,
            org_id=account.org_id,
            source=source,
            times=[hour_start(int(hour)) for hour in hours],
        )
    await session.delete(account)
    await session.flush()


async def by_verify_token(session: AsyncSession, *, verify_token: str) -> ChannelAccount | None:
    return await session.scalar(
        select(ChannelAccount).where(ChannelAccount.verify_token == verify_token)
    )


async def by_phone_number_ids(
    session: AsyncSession, *, phone_number_ids: Sequence[str]
) -> dict[str, ChannelAccount]:
    """WhatsApp accounts by their phone number id (Meta's webhooks name only that)."""
    rows = await session.scalars(
        select(ChannelAccount).where(
            ChannelAccount.kind == ChannelKind.WHATSAPP,
            ChannelAccount.phone_number_id.in_(list(phone_number_ids)),
        )
    )
    return {row.phone_number_id or "": row for row in rows}


async def by_ids(session: AsyncSession, *, account_ids: Sequence[str]) -> dict[str, ChannelAccount]:
    """Accounts by id, of any organization (for work that names them: notifications)."""
    rows = await session.scalars(
        select(ChannelAccount).where(ChannelAccount.id.in_(sorted(set(account_ids))))
    )
    return {row.id: row for row in rows}


def secret_of(account: ChannelAccount, field: str, *, server_secret: str) -> str | None:
    """An account's decrypted ``app_secret`` or ``access_token``."""
    stored: str | None = getattr(account, f"{field}_encrypted")
    return None if stored is None else credentials.decrypt(stored, server_secret=server_secret)


def within_business_hours(account: ChannelAccount, *, at: datetime, timezone: str) -> bool:
    """Whether ``at`` falls in the account's business hours (in the organization's zone);
    an account without hours is always open."""
    hours: dict[str, list[list[str]]] = account.business_hours
    if not hours:
        return True
    local = at.astimezone(ZoneInfo(timezone))
    clock = local.strftime("%H:%M")
    ranges = hours.get(WEEKDAYS[local.weekday()], [])
    return any(start <= clock < end for start, end in ranges)
