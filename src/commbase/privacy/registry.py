"""What each domain declares about personal data: who it concerns and how long it lives.

**Subjects.** For each kind of data subject (``"user"``, ``"contact"``, ``"email"``) a domain
registers, from its own privacy module, how to export and how to erase what it
stores about one subject in one organization, and which tables that covers::

    register_subject(
        "calls", "contact",
        tables={"calls", "call_events", "call_actions", "transcripts"},
        export=export_contact,  # async (session, *, org_id, subject_id) -> {file: [row, ...]}
        erase=erase_contact,    # async (session, *, org_id, subject_id, reference) -> {table: n}
    )

An ``"email"`` subject is a website visitor known only by an address: its
handlers get the address, lowercased, as ``subject_id`` and match only records
linked to no user or contact (those keep their user's or contact's path). The
request row keeps not the address but its ``eml_`` digest (``email_reference``).

``reference`` is one fresh ``anon_`` id per erasure: a row that must stay (a
ledger entry, a call) swaps the subject's id for it, so accounting can still
group those rows without knowing whose they were. Erasers run by ``order``,
lowest first: a domain that looks the subject up through another registers a
lower order than the domain that removes the subject (identity and contacts
erase last). Both run inside the request's transaction: flush, never commit.

A module that registers is listed in ``commbase.privacy.domains`` (that import
is what runs the registrations). ``tests/privacy/test_coverage.py`` fails when a
table with a column marked ``info=PERSONAL`` is covered by no registration.

**Retention.** A domain registers each kind of data that expires; webhooks,
for instance, would plug its delivery payloads in like this::

    async def purge_payloads(session, *, window: RetentionWindow, limit: int) -> int:
        ids = list(await session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.payload.is_not(None),
                   window.older_than(WebhookDelivery.org_id, WebhookDelivery.created_at))
            .limit(limit)))
        await session.execute(  # the batch as one list parameter (core.literals.listed)
            update(WebhookDelivery).where(listed(WebhookDelivery.id, "ids")).values(payload=None),
            {"ids": ids}, execution_options={"synchronize_session": False})
        return len(ids)

    register_retention(
        "webhook_payloads", default_days=90, purge=purge_payloads,
        description="Webhook delivery payloads",
    )

``purge`` removes (or empties) at most ``limit`` rows older than their
organization's cutoff (``window.older_than(org_id_column, time_column)`` builds
that WHERE clause from the default and each organization's override;
``window.cutoff_for(org_id)`` gives one cutoff) and returns how many it changed.
The ``privacy.retention`` job calls it in batches, one transaction each, until a
batch comes back short.

A run for one organization (a tenant's ``POST /v1/jobs/privacy.retention/runs``)
gives a window whose ``org_id`` names it: ``older_than`` then matches only that
organization's rows, and ``window.within(org_id_column)`` scopes any other
condition. Only kinds registered with ``per_organization=True`` (their purge
goes through ``older_than`` or ``within``) run for one organization; the
others run only in the scheduled pass over every organization. ``on_change`` (optional) runs in the
transaction that changes an organization's override, for kinds whose expiry is
stamped on rows when they are written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, and_, delete, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.literals import listed

SubjectType = Literal["user", "contact", "email"]
# The subjects every personal table is covered for (tests/privacy/test_coverage.py).
SUBJECT_TYPES: tuple[SubjectType, ...] = ("user", "contact")
# A visitor known only by an address: covers only what visitors leave by email alone.
EMAIL_SUBJECT: SubjectType = "email"


def email_reference(email: str) -> str:
    """The ``eml_`` id a request about ``email`` (lowercased) is kept under, never the address."""
    return "eml_" + hashlib.sha256(email.encode()).hexdigest()[:32]


class Exporter(Protocol):
    async def __call__(
        self, session: AsyncSession, *, org_id: str, subject_id: str
    ) -> dict[str, list[dict[str, Any]]]: ...


class Eraser(Protocol):
    async def __call__(
        self, session: AsyncSession, *, org_id: str, subject_id: str, reference: str
    ) -> dict[str, int]: ...


@dataclass(frozen=True)
class SubjectHandler:
    domain: str
    subject_type: SubjectType
    tables: frozenset[str]
    export: Exporter
    erase: Eraser
    order: int = 100


_subjects: dict[tuple[str, SubjectType], SubjectHandler] = {}


def register_subject(
    domain: str,
    subject_type: SubjectType,
    *,
    tables: Iterable[str],
    export: Exporter,
    erase: Eraser,
    order: int = 100,
) -> None:
    """Declare how ``domain`` exports and erases one ``subject_type``'s data."""
    if subject_type not in (*SUBJECT_TYPES, EMAIL_SUBJECT):
        raise ValueError(f"unknown subject type {subject_type!r}")
    _subjects[(domain, subject_type)] = SubjectHandler(
        domain, subject_type, frozenset(tables), export, erase, order
    )


def subject_handlers(subject_type: SubjectType) -> list[SubjectHandler]:
    """The handlers for ``subject_type``, in the order their erasers run."""
    handlers = [h for (_, kind), h in _subjects.items() if kind == subject_type]
    return sorted(handlers, key=lambda h: (h.order, h.domain))


def covered_tables(subject_type: SubjectType) -> frozenset[str]:
    return frozenset().union(*(h.tables for h in subject_handlers(subject_type)))


# -------------------------------------------------------------------- retention


@dataclass(frozen=True)
class RetentionWindow:
    """How old a row of one kind may get: a default cutoff and per-organization ones."""

    now: datetime
    default_days: int
    overrides: dict[str, int] = field(default_factory=dict)
    # Set for a run that covers one organization only.
    org_id: str | None = None

    def within(self, org_id: Any) -> ColumnElement[bool]:
        """WHERE the row's organization ``org_id`` is the one this run covers (any, if none)."""
        return true() if self.org_id is None else org_id == self.org_id

    def cutoff_for(self, org_id: str | None) -> datetime:
        days = self.overrides.get(org_id, self.default_days) if org_id else self.default_days
        return self.now - timedelta(days=days)

    def older_than(self, org_id: Any, moment: Any) -> ColumnElement[bool]:
        """WHERE ``moment`` is before the cutoff of the row's organization ``org_id``."""
        default = self.now - timedelta(days=self.default_days)
        others = moment < default
        if self.overrides:
            others = and_(
                or_(org_id.is_(None), org_id.not_in(list(self.overrides))), moment < default
            )
        overridden = [
            and_(org_id == org, moment < self.cutoff_for(org)) for org in sorted(self.overrides)
        ]
        return and_(self.within(org_id), or_(others, *overridden))


class Purge(Protocol):
    async def __call__(
        self, session: AsyncSession, *, window: RetentionWindow, limit: int
    ) -> int: ...


class OnRetentionChange(Protocol):
    async def __call__(self, session: AsyncSession, *, org_id: str, days: int | None) -> None: ...


@dataclass(frozen=True)
class RetentionKind:
    name: str
    default_days: int
    min_days: int
    max_days: int
    purge: Purge
    description: str
    on_change: OnRetentionChange | None = None
    per_organization: bool = False


_retention: dict[str, RetentionKind] = {}


async def delete_older_rows(
    session: AsyncSession,
    window: RetentionWindow,
    limit: int,
    *,
    key: Any,
    org_id: Any,
    moment: Any,
) -> int:
    """A purge that deletes rows outright: up to ``limit`` rows of ``key``'s table whose
    ``moment`` is before the cutoff of their organization ``org_id`` (oldest keys first)."""
    ids = list(
        await session.scalars(
            select(key).where(window.older_than(org_id, moment)).order_by(key).limit(limit)
        )
    )
    if ids:
        await session.execute(delete(key.table).where(listed(key, "ids")), {"ids": ids})
    return len(ids)


def register_retention(
    kind: str,
    *,
    default_days: int,
    purge: Purge,
    description: str,
    min_days: int = 1,
    max_days: int = 3650,
    on_change: OnRetentionChange | None = None,
    per_organization: bool = False,
) -> None:
    """Declare a kind of expiring data, kept ``default_days`` unless an organization overrides it.

    ``on_change(session, org_id=, days=)`` (``days`` None: back to the default) runs
    in the transaction that changes an organization's override. ``per_organization``
    declares that ``purge`` honours ``window.org_id`` (see the module's docstring).
    """
    if not min_days <= default_days <= max_days:
        raise ValueError(f"{kind}: default_days must lie within [min_days, max_days]")
    _retention[kind] = RetentionKind(
        kind, default_days, min_days, max_days, purge, description, on_change, per_organization
    )


def retention_kinds() -> dict[str, RetentionKind]:
    return dict(sorted(_retention.items()))


def period_of(kind: str, override: int | None) -> int:
    """An organization's period for ``kind``: its own (``override``), else the kind's
    default (``privacy.retention.days_for``; the ingest reads the override with its
    organization, ``tracking.events.policy_for``)."""
    return _retention[kind].default_days if override is None else override
