"""The webhook's hot path: a verified notification kept in one statement.

Every Cloud API notification names the phone number id it is for; checking its
signature needs that account's app secret. ``Accepting`` (one per app) remembers,
per phone number id, the account's id, organization and app secret as last read
(encrypted and decrypted). A notification naming one remembered number whose
signature matches the remembered secret is kept by a single ``INSERT ... SELECT``
from ``channel_accounts`` that inserts only while the account still exists, is a
WhatsApp account with that number and still holds that very encrypted secret: a
secret rotated or an account removed in another process makes it insert nothing,
and the notification takes the full path (read the accounts, verify, insert) that
also refreshes what is remembered. So nothing is accepted that the full path would
refuse, and a notification is refused only after the full path has refused it.

On PostgreSQL the statement runs outside an explicit transaction, on a small pool
of its own (``POOL_SIZE`` connections per process) without the main pool's
pre-ping (three round trips on every checkout with asyncpg: BEGIN, a ping,
ROLLBACK): one round trip per notification. Any error there (a connection the
server dropped, which the pool then discards) sends the notification down the
full path, on the main pool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from commbase.core.db import Database, rowcount
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.enums import ChannelKind
from commbase.messaging.models import ChannelAccount, WhatsAppNotification
from commbase.messaging.providers.whatsapp import signature_is_valid

log = structlog.get_logger("commbase.messaging.whatsapp")
MAX_REMEMBERED = 10_000
POOL_SIZE = 8
COLUMNS = [
    "id",
    "org_id",
    "account_id",
    "phone_number_id",
    "body",
    "body_sha256",
    "received_at",
    "available_at",
    "attempts",
]


def _statement(dialect: str) -> Any:
    """INSERT the notification for the account while it still has this number and
    this encrypted secret; parameters bound at execution (compiled once)."""
    account = ChannelAccount.__table__.c
    kept = WhatsAppNotification.__table__.c
    source = select(
        bindparam("id", type_=kept.id.type),
        account.org_id,
        account.id,
        account.phone_number_id,
        *(
            bindparam(name, type_=kept[name].type)
            for name in ("body", "body_sha256", "received_at", "available_at", "attempts")
        ),
    ).where(
        account.id == bindparam("account_id"),
        account.kind == ChannelKind.WHATSAPP,
        account.phone_number_id == bindparam("phone_number_id"),
        account.app_secret_encrypted == bindparam("secret_encrypted"),
    )
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(WhatsAppNotification.__table__)
        .from_select(COLUMNS, source)
        .on_conflict_do_nothing(index_elements=["account_id", "body_sha256"])
    )


@dataclass(frozen=True)
class _Known:
    account_id: str
    secret_encrypted: str
    secret: str


class Accepting:
    """Remembered app secrets by phone number id, for one app's database."""

    def __init__(self, database: Database, *, server_secret: str) -> None:
        self.database = database
        self.server_secret = server_secret
        self._known: dict[str, _Known] = {}
        self._statement = _statement(database.dialect)
        self._engine: AsyncEngine | None = None

    def _postgres_engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(
                self.database.url,
                pool_size=POOL_SIZE,
                max_overflow=0,
                pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",
                connect_args={"timeout": 10},
            )
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def remember(self, accounts: dict[str, ChannelAccount]) -> None:
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        for phone_number_id, account in accounts.items():
            stored = account.app_secret_encrypted
            secret = accounts_service.secret_of(
                account, "app_secret", server_secret=self.server_secret
            )
            if stored is None or secret is None:
                self._known.pop(phone_number_id, None)
            else:
                self._known[phone_number_id] = _Known(account.id, stored, secret)

    def forget(self, phone_number_ids: set[str]) -> None:
        for phone_number_id in phone_number_ids:
            self._known.pop(phone_number_id, None)

    async def try_fast(
        self, *, phone_number_ids: set[str], body: bytes, header: str | None
    ) -> bool:
        """True if the notification was verified against a remembered secret still
        stored and kept (or was kept before); False: take the full path."""
        if len(phone_number_ids) != 1:
            return False
        [phone_number_id] = phone_number_ids
        known = self._known.get(phone_number_id)
        if known is None or not signature_is_valid(
            body=body, header=header, app_secret=known.secret
        ):
            return False
        now = utcnow()
        parameters = {
            "id": new_id("wan"),
            "body": body.decode("utf-8", errors="replace"),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "received_at": now,
            "available_at": now,
            "attempts": 0,
            "account_id": known.account_id,
            "phone_number_id": phone_number_id,
            "secret_encrypted": known.secret_encrypted,
        }
        try:
            if self.database.dialect == "postgresql":
                async with self._postgres_engine().connect() as connection:
                    inserted = rowcount(await connection.execute(self._statement, parameters))
            else:
                async with self.database.engine.begin() as connection:
                    inserted = rowcount(await connection.execute(self._statement, parameters))
        except Exception as exc:  # the full path, on the main pool, decides
            log.warning("whatsapp fast accept failed; full path", error=repr(exc))
            return False
        # Nothing inserted: the account changed, or this body is waiting already; the
        # full path tells which (and keeps nothing twice).
        return inserted == 1
