"""Receiving a call: ``receive_inbound`` stores it as an inbound call, finds or creates
the caller's contact, decides what answers it by the organization's settings, holds
its money and announces ``call.inbound``. Carriers render the decision (Twilio:
``inbound.twiml``); the simulator plays it on the clock.

A repeated webhook for the same carrier call finds the call it created and gives
the same decision again, never a second call. Inbound minutes are charged once,
when the call ends (``calls.lifecycle``), at the number's inbound rate or
``COMMBASE_INBOUND_RATE_PER_MINUTE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from math import ceil
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates as billing_rates
from commbase.billing import service as billing_service
from commbase.billing.service import Hold
from commbase.calls import lifecycle
from commbase.calls.enums import CallDirection, CallStatus, EndReason, EventSource, ProviderName
from commbase.calls.inbound import events
from commbase.calls.inbound.enums import InboundRoute
from commbase.calls.inbound.hours import is_open
from commbase.calls.inbound.policy import InboundPolicy, policy_of
from commbase.calls.models import Call
from commbase.calls.numbers import parse_destination
from commbase.calls.phone_numbers.enums import AfterHoursAction, AnswerMode
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.calls.providers.base import ProviderEvent
from commbase.contacts import service as contacts_service
from commbase.contacts.schemas import ContactCreate
from commbase.core import outbox
from commbase.core.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PaymentRequired,
    ValidationFailed,
)
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.settings import Settings

STATE_KEY = "inbound"  # the decision, kept in the call's provider_state


@dataclass(frozen=True)
class Inbound:
    """An inbound call and what answers it. ``replayed``: an earlier webhook for the
    same carrier call created it."""

    call: Call
    number: PhoneNumber
    route: InboundRoute
    policy: InboundPolicy
    forward_to: str | None = None
    greeting: str | None = None
    replayed: bool = False

    @property
    def allowed_s(self) -> int:
        return self.call.max_duration_seconds

    @property
    def records_voicemail(self) -> bool:
        return self.route == InboundRoute.VOICEMAIL and not self.call.privacy_mode


async def receive_inbound(
    session: AsyncSession,
    *,
    number: PhoneNumber,
    from_number: str,
    settings: Settings,
    provider_call_id: str | None = None,
    livemode: bool = True,
    now: datetime | None = None,
) -> Inbound:
    """Store an inbound call to ``number`` from ``from_number`` (any format the
    carrier sends; E.164 stored) and decide what answers it."""
    now = now or utcnow()
    provider = number.provider
    if provider_call_id is None:
        provider_call_id = "sim_in_" + new_id("call").partition("_")[2]
    earlier = await session.scalar(
        select(Call).where(Call.provider == provider, Call.provider_call_id == provider_call_id)
    )
    org = await identity_service.get_organization(session, org_id=number.org_id)
    policy = policy_of(org)
    if earlier is not None:
        if earlier.org_id != number.org_id:
            raise Conflict("This carrier call belongs to another number")
        return _replay(earlier, number=number, policy=policy)
    caller = _caller(from_number)
    contact_id, blocked = (None, False)
    if caller is not None:
        contact_id, blocked = await _contact(session, number=number, phone=caller)
    route, forward_to, greeting = await _route(
        session, number=number, policy=policy, blocked=blocked, now=now
    )
    destination = parse_destination(number.number, field="number")
    call = Call(
        org_id=number.org_id,
        direction=CallDirection.INBOUND,
        status=CallStatus.RINGING,
        ringing_at=now,
        user_id=number.member_user_id if route == InboundRoute.MEMBER else None,
        contact_id=contact_id,
        from_number=caller,
        to_number=destination.e164,
        to_number_formatted=destination.international,
        to_country=destination.country,
        to_line_type=destination.line_type,
        privacy_mode=number.privacy_mode,
        live_audio=number.live_audio,
        provider=provider,
        provider_call_id=provider_call_id,
        livemode=livemode,
        max_duration_seconds=min(settings.max_call_duration_s, policy.max_call_duration_s),
        provider_state={
            "direction": "inbound",
            STATE_KEY: {
                "number_id": number.id,
                "route": route,
                "forward_to": forward_to,
                "greeting": greeting,
                "agent_id": number.agent_id,
                "connect_url": number.connect_url,
            },
        },
    )
    try:
        # One savepoint for the hold and the call: a concurrent webhook for the same
        # carrier call that stored it first leaves no hold of ours behind.
        async with session.begin_nested():
            if route != InboundRoute.REJECTED:
                route = await _hold(
                    session, call=call, number=number, route=route, settings=settings
                )
                call.provider_state[STATE_KEY]["route"] = route
            session.add(call)
            await session.flush()
    except IntegrityError:
        if call in session:
            session.expunge(call)
        stored = await session.scalar(
            select(Call).where(Call.provider == provider, Call.provider_call_id == provider_call_id)
        )
        if stored is None or stored.org_id != number.org_id:
            raise
        return _replay(stored, number=number, policy=policy)
    inbound = Inbound(call, number, route, policy, forward_to, greeting)
    await outbox.record(session, events.CALL_INBOUND, _payload(inbound), org_id=call.org_id)
    await _answer(session, call=call, route=route, now=now)
    return inbound


def _country(number: str | None) -> str | None:
    """The ISO country of a caller's E.164 number (None: withheld or unknown)."""
    if number is None:
        return None
    try:
        return parse_destination(number, field="from").country
    except ValidationFailed:
        return None


def _caller(raw: str) -> str | None:
    """The caller's E.164 number; None when withheld or unreadable ("anonymous")."""
    try:
        return parse_destination(raw, field="from").e164
    except ValidationFailed:
        return None


def _replay(call: Call, *, number: PhoneNumber, policy: InboundPolicy) -> Inbound:
    state: dict[str, Any] = (call.provider_state or {}).get(STATE_KEY) or {}
    return Inbound(
        call,
        number,
        InboundRoute(state.get("route") or InboundRoute.HANGUP),
        policy,
        state.get("forward_to"),
        state.get("greeting"),
        replayed=True,
    )


async def _contact(
    session: AsyncSession, *, number: PhoneNumber, phone: str
) -> tuple[str | None, bool]:
    """The caller's contact id, created if new (not for private numbers, which keep
    nothing about callers), and whether the caller is blocked."""
    org_id = number.org_id
    found = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone)
    if found is not None:
        return found.id, found.blocked
    if number.privacy_mode:
        return None, False
    try:
        created = await contacts_service.create_contact(
            session, org_id=org_id, data=ContactCreate(name=phone, phone=phone)
        )
    except AlreadyExists:  # created meanwhile by a concurrent call or message
        again = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone)
        if again is None:
            raise
        return again.id, again.blocked
    return created.id, False


async def _route(
    session: AsyncSession,
    *,
    number: PhoneNumber,
    policy: InboundPolicy,
    blocked: bool,
    now: datetime,
) -> tuple[InboundRoute, str | None, str | None]:
    """What answers: (route, number to forward to, greeting)."""
    if blocked:
        return InboundRoute.REJECTED, None, None
    if not is_open(policy.working_hours, moment=now, timezone=policy.timezone):
        greeting = policy.greeting(number.after_hours_greeting)
        if number.after_hours_action == AfterHoursAction.FORWARD:
            return InboundRoute.AFTER_HOURS_FORWARD, number.after_hours_forward_to, greeting
        if number.after_hours_action == AfterHoursAction.VOICEMAIL and not number.privacy_mode:
            return InboundRoute.VOICEMAIL, None, greeting
        return InboundRoute.HANGUP, None, greeting
    if number.answer_mode == AnswerMode.MEMBER and number.member_user_id:
        try:
            member = await identity_service.get_member_user(
                session, org_id=number.org_id, user_id=number.member_user_id
            )
        except NotFound:
            member = None
        if member is not None and member.phone:
            return InboundRoute.MEMBER, member.phone, None
        # Nobody to ring: the caller leaves a message instead.
        return InboundRoute.VOICEMAIL, None, policy.greeting(number.after_hours_greeting)
    if number.answer_mode == AnswerMode.FORWARD:
        return InboundRoute.FORWARD, number.forward_to, None
    if number.answer_mode == AnswerMode.CONNECT:
        return InboundRoute.CONNECT, None, None
    return InboundRoute.AGENT, None, None


async def _hold(
    session: AsyncSession,
    *,
    call: Call,
    number: PhoneNumber,
    route: InboundRoute,
    settings: Settings,
) -> InboundRoute:
    """Hold the call's money on the organization's wallet; without a wallet that
    covers a minute, the caller hears that the number is unavailable."""
    wallet = await billing_service.payer_wallet(
        session, org_id=call.org_id, user_id=None, agent_session_id=None
    )
    if wallet is None:
        return InboundRoute.UNAVAILABLE
    rate: Decimal
    if number.inbound_rate_per_minute is not None:
        rate = number.inbound_rate_per_minute
    else:
        # The organization's inbound rates, by the caller's country (``billing.rates``).
        try:
            rate = await billing_rates.rate_for(
                session,
                org_id=call.org_id,
                country=_country(call.from_number),
                line_type=None,
                default=settings.inbound_rate_per_minute,
                currency=wallet.currency,
                default_currency=settings.default_rate_currency,
                direction="inbound",
            )
        except Conflict:
            return InboundRoute.UNAVAILABLE  # no inbound rate in the wallet's currency
    try:
        hold: Hold = await billing_service.hold_for_call(
            session,
            wallet=wallet,
            rate_per_minute=rate,
            max_minutes=ceil(call.max_duration_seconds / 60),
        )
    except PaymentRequired:
        return InboundRoute.UNAVAILABLE
    call.wallet_id = wallet.id
    call.rate_per_minute = rate
    call.currency = wallet.currency
    call.hold_amount, call.hold_minutes = hold.amount, hold.minutes
    call.max_duration_seconds = min(call.max_duration_seconds, hold.allowed_minutes * 60)
    return route


async def _answer(session: AsyncSession, *, call: Call, route: InboundRoute, now: datetime) -> None:
    """Move the call on: answered (every route but a rejection answers), or canceled."""
    if route == InboundRoute.REJECTED:
        event = ProviderEvent(
            status=CallStatus.CANCELED, occurred_at=now, duration_s=0, end_reason=EndReason.CANCELED
        )
    else:
        event = ProviderEvent(status=CallStatus.IN_PROGRESS, occurred_at=now)
    source = (
        EventSource.SIMULATOR if call.provider == ProviderName.SIMULATOR else EventSource.TWILIO
    )
    await lifecycle.apply_event(session, call=call, event=event, source=source)


def _payload(inbound: Inbound) -> dict[str, Any]:
    payload = lifecycle.call_payload(inbound.call)
    payload.update(number_id=inbound.number.id, route=inbound.route)
    if not inbound.call.privacy_mode:
        payload["caller"] = inbound.call.from_number
    return payload
