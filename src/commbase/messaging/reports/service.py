"""Messaging reports as Chatwoot gives them, per channel account, agent or label, over
[start, end):

* ``conversations``: conversations opened in the range;
* ``incoming_messages`` / ``outgoing_messages``: messages from / to contacts created
  in the range, in conversations of the group;
* ``avg_first_response_s``: mean seconds from the first inbound message to the first
  reply, over the conversations opened in the range that were answered;
* ``resolutions``: conversations resolved in the range (by their latest
  resolution); ``avg_resolution_s``: their mean seconds from opening to resolution.

A conversation counts under each of its labels; by agent, under its assignee (null
when unassigned). Groups are ordered by conversations, then key; at most 100.

With ``business_hours``, both times count only the seconds within the channel
account's business hours in the organization's zone (``business_hours.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.identity import service as identity_service
from commbase.messaging.enums import Direction
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.reports import business_hours
from commbase.messaging.reports.schemas import ReportGroup, ReportRow

MAX_GROUPS = 100


def _grouped(session: AsyncSession, group: ReportGroup, columns: list[Any]) -> Select[Any]:
    """``SELECT key, *columns FROM conversations`` (one row per label when by label)."""
    if group == ReportGroup.ACCOUNT:
        return select(Conversation.account_id.label("group_key"), *columns)
    if group == ReportGroup.AGENT:
        return select(Conversation.assignee_user_id.label("group_key"), *columns)
    if session.get_bind().dialect.name == "postgresql":
        each: Any = (
            func.jsonb_array_elements_text(Conversation.labels).table_valued("value").lateral()
        )
    else:
        each = func.json_each(Conversation.labels).table_valued("value")
    key = each.c.value.label("group_key")
    return select(key, *columns).select_from(Conversation).join(each, true())


async def _rows(session: AsyncSession, statement: Select[Any]) -> dict[Any, Any]:
    grouped = statement.group_by(statement.selected_columns[0])
    return {row.group_key: row for row in (await session.execute(grouped)).all()}


async def _business_averages(
    session: AsyncSession,
    *,
    org_id: str,
    group: ReportGroup,
    start: datetime,
    end: datetime,
    timezone: str,
) -> tuple[dict[Any, float], dict[Any, float]]:
    """Per group: mean first response and mean resolution seconds within business hours."""
    tz = ZoneInfo(timezone)
    hours_of = {
        account_id: hours
        for account_id, hours in (
            await session.execute(
                select(ChannelAccount.id, ChannelAccount.business_hours).where(
                    ChannelAccount.org_id == org_id
                )
            )
        ).all()
    }
    mine = Conversation.org_id == org_id
    answered = await session.execute(
        _grouped(
            session,
            group,
            [
                Conversation.account_id,
                Conversation.first_inbound_at,
                Conversation.first_response_at,
            ],
        ).where(mine, Conversation.created_at >= start, Conversation.created_at < end)
    )
    resolved = await session.execute(
        _grouped(
            session,
            group,
            [Conversation.account_id, Conversation.created_at, Conversation.resolved_at],
        ).where(mine, Conversation.resolved_at >= start, Conversation.resolved_at < end)
    )
    return (
        business_hours.averages(answered.all(), hours_of=hours_of, tz=tz),
        business_hours.averages(resolved.all(), hours_of=hours_of, tz=tz),
    )


async def messaging_report(
    session: AsyncSession,
    *,
    org_id: str,
    group: ReportGroup,
    start: datetime,
    end: datetime,
    business_hours_only: bool = False,
) -> list[ReportRow]:
    mine = Conversation.org_id == org_id
    opened = await _rows(
        session,
        _grouped(
            session,
            group,
            [
                func.count(Conversation.id).label("conversations"),
                func.avg(Conversation.first_response_seconds).label("response"),
            ],
        ).where(mine, Conversation.created_at >= start, Conversation.created_at < end),
    )
    resolved = await _rows(
        session,
        _grouped(
            session,
            group,
            [
                func.count(Conversation.id).label("resolutions"),
                func.avg(Conversation.resolution_seconds).label("resolution"),
            ],
        ).where(mine, Conversation.resolved_at >= start, Conversation.resolved_at < end),
    )
    inbound = Message.direction == Direction.INBOUND
    messages = await _rows(
        session,
        _grouped(
            session,
            group,
            [
                func.count(Message.id).filter(inbound).label("incoming"),
                func.count(Message.id).filter(~inbound).label("outgoing"),
            ],
        )
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            mine,
            Message.org_id == org_id,
            Message.created_at >= start,
            Message.created_at < end,
        ),
    )
    keys = set(opened) | set(resolved) | set(messages)
    if business_hours_only:
        org = await identity_service.get_organization(session, org_id=org_id)
        response_in, resolution_in = await _business_averages(
            session, org_id=org_id, group=group, start=start, end=end, timezone=org.timezone
        )

    def _avg(value: Any) -> float | None:
        return None if value is None else round(float(value), 2)

    def _response(key: Any) -> float | None:
        if business_hours_only:
            return response_in.get(key)
        return _avg(opened[key].response) if key in opened else None

    def _resolution(key: Any) -> float | None:
        if business_hours_only:
            return resolution_in.get(key)
        return _avg(resolved[key].resolution) if key in resolved else None

    rows = [
        ReportRow(
            key=key,
            conversations=int(opened[key].conversations) if key in opened else 0,
            incoming_messages=int(messages[key].incoming) if key in messages else 0,
            outgoing_messages=int(messages[key].outgoing) if key in messages else 0,
            avg_first_response_s=_response(key),
            resolutions=int(resolved[key].resolutions) if key in resolved else 0,
            avg_resolution_s=_resolution(key),
        )
        for key in keys
    ]
    rows.sort(key=lambda r: (-r.conversations, -r.incoming_messages, r.key or ""))
    return rows[:MAX_GROUPS]
