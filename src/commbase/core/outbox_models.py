"""The outbox's tables: events, and one delivery per event and consumer that hears it.

A delivery row lives while its consumer has work to do with the event: recorded
with the event, leased by ``claim`` (its ``available_at`` pushed to the lease's
end), and deleted by ``complete`` once handled. Only a delivery that ended in an
error (a consumer gave up) stays, marked done with that error. So the table holds
the work in flight, and its pending index holds only the rows not done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ForeignKey, Index, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, public_id


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_org_created", "org_id", "created_at"),)

    id: Mapped[str] = public_id("evt")
    org_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(info=PERSONAL)
    created_at: Mapped[datetime]


_NOT_DONE = text("done_at IS NULL")


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        # A claim reads its consumer's rows not done in the order they come due and
        # stops after its limit: rows leased or waiting out a retry's backoff sort
        # after the due ones, so a backlog of them (a carrier down for an hour) costs
        # a claim nothing. A lease moves ``available_at``, so a claim or a renewal
        # writes an entry here (not a HOT update); a completed delivery is deleted.
        Index(
            "ix_outbox_deliveries_pending",
            "consumer",
            "available_at",
            "id",
            postgresql_where=_NOT_DONE,
            sqlite_where=_NOT_DONE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True
    )
    consumer: Mapped[str] = mapped_column(String(60))
    available_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(2000))


# The tables themselves: INSERTs into them through the session flush nothing first.
EVENTS = cast(Table, OutboxEvent.__table__)
DELIVERIES = cast(Table, OutboxDelivery.__table__)
