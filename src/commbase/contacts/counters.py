"""A contact's call stats: a finished call counts for the contact with its number.

``RECORD_CALL`` is the one UPDATE that counts a call; ``record_call`` runs it alone,
and a caller may run it with other statements (``calls.counting`` does, on
PostgreSQL, as a CTE) and then ``expire_loaded`` the contact it counted for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, bindparam, case, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts.models import Contact
from commbase.core.db import UTCDateTime, rowcount

_CONTACTS: Table = Contact.__table__  # type: ignore[assignment]
_MOMENT = bindparam("at", type_=UTCDateTime())
# Built once, on the table (an ORM-enabled UPDATE costs more CPU than its round trip;
# the callers, finished calls, load no contact): every finished call runs it.
# Parameters: ``b_org_id``, ``b_phone``, ``at`` and ``duration_s``.
RECORD_CALL = (
    update(_CONTACTS)
    .where(_CONTACTS.c.org_id == bindparam("b_org_id"), _CONTACTS.c.phone == bindparam("b_phone"))
    .values(
        total_calls=_CONTACTS.c.total_calls + 1,
        total_duration=_CONTACTS.c.total_duration + bindparam("duration_s"),
        first_called_at=case(
            (
                _CONTACTS.c.first_called_at.is_(None) | (_CONTACTS.c.first_called_at > _MOMENT),
                _MOMENT,
            ),
            else_=_CONTACTS.c.first_called_at,
        ),
        last_called_at=case(
            (
                _CONTACTS.c.last_called_at.is_(None) | (_CONTACTS.c.last_called_at < _MOMENT),
                _MOMENT,
            ),
            else_=_CONTACTS.c.last_called_at,
        ),
    )
)


async def record_call(
    session: AsyncSession, *, org_id: str, phone: str, at: datetime, duration_s: int
) -> int:
    """Count a call of ``duration_s`` seconds at ``at`` on the contact of ``org_id``
    with the E.164 ``phone``; returns how many contacts were updated (0 or 1).

    One UPDATE computes the new stats from the stored ones, so concurrent calls
    never lose a count; CASE instead of LEAST/GREATEST works on every backend,
    and keeps first/last right when calls are recorded out of order. The UPDATE is
    the table's, which the session does not see: a contact it has loaded is expired
    (``expire_loaded``).
    """
    result = await session.execute(
        RECORD_CALL, {"b_org_id": org_id, "b_phone": phone, "at": at, "duration_s": duration_s}
    )
    updated = rowcount(result)
    if updated:
        expire_loaded(session, org_id=org_id, phone=phone)
    return updated


def expire_loaded(session: AsyncSession, *, org_id: str, phone: str) -> None:
    """Expire the contact of ``org_id`` with ``phone`` if the session has loaded it,
    so that a later read in this session loads the figures an UPDATE on the table
    wrote. Expiring discards that contact's changes not yet flushed: callers flush
    before (``calls.lifecycle``'s does)."""
    for loaded in list(session.identity_map.values()):
        if not isinstance(loaded, Contact):
            continue
        values = inspect(loaded).dict  # what is loaded, without loading anything
        if values.get("org_id") == org_id and values.get("phone") == phone:
            session.expire(loaded)
