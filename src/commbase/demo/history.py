"""A month of history for the demo organization: calls with their charges and top-ups,
tracked events, contacts' and members' call counters, and a few transcripts.

The history is written as the facts a month of real calls would have left, so
every dashboard tells the same story. Each call dials a contact's number (E.164,
country, line type) and is priced by the demo rates; each completed call has
exactly one ``call_charge`` ledger row (package minutes first, then money) that
its ``cost_amount`` and ``ledger_entry_id`` name; top-ups keep the wallet funded;
the wallet's balances are what its ledger adds up to; contacts' and members'
call counters count the same calls. Hence: calls charged == ledger call charges,
``calls.cost`` == ``revenue.call_charges``, top-ups == the revenue report.

History is written directly -- calls, ledger rows, tracked events, the wallet's
and members' counters -- because billing's service posts at the current time and a
month of postings, one statement each, would make the demo slow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates
from commbase.billing.enums import LedgerCategory, LedgerStatus, LedgerType, PaymentMethod
from commbase.billing.models import LedgerEntry, Wallet
from commbase.calls.enums import CallKind, CallStatus
from commbase.calls.models import Call
from commbase.calls.transcripts import service as transcripts
from commbase.calls.transcripts.enums import TranscriptStatus
from commbase.calls.transcripts.schemas import Segment, TranscriptWrite
from commbase.contacts.models import Contact
from commbase.core.ids import new_id
from commbase.core.money import billable_minutes, cost_of
from commbase.core.phones import PhoneNumber, parse_phone
from commbase.core.time import utcnow
from commbase.demo.catalog import CURRENCY, DEMO_CONTACTS, DEMO_RATES, DEMO_TRANSCRIPTS
from commbase.identity.models import User
from commbase.tracking.models import TrackedEvent

CALLER_ID = "+14155550100"
# Inside the dashboard's default 30 local days (today and the 29 before), so the
# dashboard and the all-time figures show the same month.
HISTORY_DAYS = 29
FIRST_CREDIT, PACKAGE_MINUTES = 5000, 120  # $50.00 and the "popular" plan's minutes
TOPUP, TOPUP_BELOW = 5000, 1000  # another $50.00 whenever less than $10.00 would be left
TRANSCRIPT_RETENTION_DAYS = 30
OUTCOMES = (CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER)


@dataclass
class _Books:
    """The wallet's ledger as the history writes it, oldest first."""

    wallet: Wallet
    balance: int = 0
    minutes: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)

    def _post(self, at: datetime, *, amount: int, minutes: int, **columns: object) -> LedgerEntry:
        entry = LedgerEntry(
            id=new_id("txn"),
            org_id=self.wallet.org_id,
            wallet_id=self.wallet.id,
            status=LedgerStatus.COMPLETED,
            amount=abs(amount),
            minutes=abs(minutes),
            currency=self.wallet.currency,
            balance_before=self.balance,
            balance_after=self.balance + amount,
            minutes_before=self.minutes,
            minutes_after=self.minutes + minutes,
            receipt_number=f"R-{at:%Y%m%d}-{new_id('r')[-8:].upper()}",
            created_at=at,
            completed_at=at,
            **columns,
        )
        self.balance += amount
        self.minutes += minutes
        self.entries.append(entry)
        return entry

    def top_up(self, at: datetime, *, amount: int, minutes: int = 0, key: str) -> None:
        self._post(
            at,
            amount=amount,
            minutes=minutes,
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod.ADMIN,
            plan="popular" if minutes else None,
            idempotency_key=key,
            description="Demo top-up",
            details={},
        )

    def charge(self, call: Call, at: datetime, *, rate: Decimal) -> LedgerEntry:
        """The completed call's one charge: package minutes first, then money."""
        billable = call.billable_minutes or 0
        package = min(billable, self.minutes)
        amount = cost_of(billable - package, rate, self.wallet.currency)
        if self.balance - amount < TOPUP_BELOW:
            self.top_up(at, amount=TOPUP, key=f"demo:{self.wallet.org_id}:{len(self.entries)}")
        return self._post(
            at,
            amount=-amount,
            minutes=-package,
            type=LedgerType.DEBIT,
            category=LedgerCategory.CALL_CHARGE,
            related_call_id=call.id,
            user_id=call.user_id,
            idempotency_key=f"call:{call.id}",
            description=f"{billable} min at {rate} {self.wallet.currency}/min",
            details={
                "billable_minutes": billable,
                "package_minutes": package,
                "rate_per_minute": str(rate),
            },
        )


async def _rates_of(
    session: AsyncSession, *, org_id: str, numbers: list[PhoneNumber]
) -> dict[str, Decimal]:
    found = {}
    for number in numbers:
        found[number.e164] = await rates.rate_for(
            session,
            org_id=org_id,
            country=number.country,
            line_type=number.line_type,
            default=Decimal(DEMO_RATES[-1][2]),
        )
    return found


def _demo_call(
    rng: random.Random, *, org_id: str, user_id: str, contact: Contact, number: PhoneNumber
) -> Call:
    """A finished call at a random minute; ``created_at`` set by the caller."""
    status = rng.choices(OUTCOMES, [80, 6, 8, 6])[0]
    completed = status == CallStatus.COMPLETED
    duration = rng.randint(20, 900) if completed else 0
    rating = rng.choice([None, None, 3, 4, 5, 5]) if completed else None
    return Call(
        id=new_id("call"),
        org_id=org_id,
        user_id=user_id,
        contact_id=contact.id,
        from_number=CALLER_ID,
        to_number=number.e164,
        to_number_formatted=number.international,
        to_country=number.country,
        to_line_type=number.line_type,
        to_carrier=number.carrier,
        provider="simulator",
        status=status,
        duration_seconds=duration,
        billable_minutes=billable_minutes(duration) if completed else 0,
        cost_amount=0,
        currency=CURRENCY,
        review_rating=rating,
        problem_solved=rng.choice([True, True, True, False]) if rating else None,
        mos_score=round(rng.uniform(3.2, 4.5), 2) if completed else None,
        latency_ms=rng.randint(40, 250) if completed else None,
        jitter_ms=rng.randint(2, 30) if completed else None,
        packet_loss=round(rng.uniform(0, 2), 2) if completed else None,
        quality=rng.choice(["excellent", "good", "good", "fair"]) if completed else None,
    )


def _demo_timeline(rng: random.Random, call: Call, *, placed: datetime) -> None:
    """Placed, dialed, ringing, answered (completed calls) and ended, with waiting time
    (placed -> answered) and response time (first ring -> answered) as the lifecycle
    writes them."""
    call.created_at = placed
    call.initiated_at = placed + timedelta(seconds=1)
    call.ringing_at = placed + timedelta(seconds=rng.randint(2, 4))
    if call.status == CallStatus.COMPLETED:
        call.answered_at = call.ringing_at + timedelta(seconds=rng.randint(2, 30))
        call.waiting_time_seconds = round((call.answered_at - placed).total_seconds())
        call.response_time_seconds = round((call.answered_at - call.ringing_at).total_seconds())
        ended = call.answered_at + timedelta(seconds=call.duration_seconds or 0)
    else:
        ended = call.ringing_at + timedelta(seconds=rng.randint(3, 30))
    call.ended_at = call.updated_at = ended


async def write_history(
    session: AsyncSession,
    *,
    org_id: str,
    user_ids: list[str],
    wallet: Wallet,
    contacts: list[Contact],
) -> None:
    """A month of calls with their charges and top-ups, and tracked events."""
    rng = random.Random(42)  # noqa: S311  (demo data, not secrets)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    numbers = [parse_phone(contact.phone or "") for contact in contacts]
    rate_of = await _rates_of(session, org_id=org_id, numbers=numbers)
    weights = [spec[4] for spec in DEMO_CONTACTS]
    books = _Books(wallet)
    start = now - timedelta(days=HISTORY_DAYS)
    books.top_up(start, amount=FIRST_CREDIT, minutes=PACKAGE_MINUTES, key=f"demo:{org_id}")
    calls: list[Call] = []
    events: list[TrackedEvent] = []
    # Up to two hours ago, so every call (at most 15 minutes) has ended.
    for hours_ago in range(24 * HISTORY_DAYS - 1, 1, -1):
        at = now - timedelta(hours=hours_ago)
        busy = 9 <= (at.hour + 1) % 24 <= 18  # office hours in Prague
        for _ in range(rng.randint(1, 4) if busy else rng.randint(0, 1)):
            moment = at + timedelta(minutes=rng.randint(0, 59))
            pick = rng.choices(range(len(contacts)), weights)[0]
            user_id = user_ids[0] if rng.random() < 0.7 else user_ids[-1]
            call = _demo_call(
                rng, org_id=org_id, user_id=user_id, contact=contacts[pick], number=numbers[pick]
            )
            rate = rate_of[numbers[pick].e164]
            call.wallet_id, call.rate_per_minute = wallet.id, rate
            _demo_timeline(rng, call, placed=moment)
            ended = call.ended_at or moment
            if call.status == CallStatus.COMPLETED:
                entry = books.charge(call, ended, rate=rate)
                call.cost_amount, call.ledger_entry_id = entry.amount, entry.id
            call.cost_breakdown = {
                "call_cost": call.cost_amount,
                "package_minutes": books.entries[-1].minutes if call.ledger_entry_id else 0,
                "billable_minutes": call.billable_minutes,
                "rate_per_minute": format(rate.normalize(), "f"),
                "currency": CURRENCY,
            }
            calls.append(call)
            events.append(_tracked_event(rng, org_id=org_id, at=moment))
    session.add_all([*books.entries, *calls, *events])
    wallet.balance, wallet.balance_minutes = books.balance, books.minutes
    wallet.last_transaction_id = books.entries[-1].id
    await session.flush()
    await _count_calls(session, calls=calls, contacts=contacts)
    await _demo_transcripts(session, calls=calls)


def _tracked_event(rng: random.Random, *, org_id: str, at: datetime) -> TrackedEvent:
    return TrackedEvent(
        org_id=org_id,
        event_id=new_id("evt"),
        type=rng.choice(["widget.opened", "order.paid", "call.quality_degraded"]),
        data={"amount": rng.randint(5, 200)},
        metadata_={"sdk_version": "1.2.3"},
        occurred_at=at,
        received_at=at,
        expires_at=at + timedelta(days=90),
    )


async def _count_calls(
    session: AsyncSession, *, calls: list[Call], contacts: list[Contact]
) -> None:
    """Contacts' and members' counters, as the call lifecycle keeps them."""
    by_phone = {contact.phone: contact for contact in contacts}
    for call in calls:
        duration = call.duration_seconds or 0
        contact = by_phone[call.to_number]
        contact.total_calls += 1
        contact.total_duration += duration
        ended = call.ended_at
        if ended is not None:
            if contact.first_called_at is None or ended < contact.first_called_at:
                contact.first_called_at = ended
            if contact.last_called_at is None or ended > contact.last_called_at:
                contact.last_called_at = ended
    # The members' counters of identity's record_call_for_user and
    # record_review_for_user, added up: one UPDATE per member, not two per call.
    for user_id in {call.user_id for call in calls}:
        theirs = [call for call in calls if call.user_id == user_id]
        ratings = [call.review_rating for call in theirs if call.review_rating is not None]
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                total_calls=User.total_calls + len(theirs),
                total_video_calls=User.total_video_calls
                + sum(call.kind == CallKind.VIDEO for call in theirs),
                total_call_duration=User.total_call_duration
                + sum(call.duration_seconds or 0 for call in theirs),
                review_count=User.review_count + len(ratings),
                rating_sum=User.rating_sum + sum(ratings),
            )
        )
    await session.flush()


async def _demo_transcripts(session: AsyncSession, *, calls: list[Call]) -> None:
    """Transcripts of the last completed call to a few contacts, in their languages."""
    last: dict[str, Call] = {}
    for call in calls:
        if call.status == CallStatus.COMPLETED and call.to_number in DEMO_TRANSCRIPTS:
            last[call.to_number] = call
    for phone, call in last.items():
        language, lines = DEMO_TRANSCRIPTS[phone]
        segments = [
            Segment(speaker=speaker, text=line, start=4.0 * n, end=4.0 * n + 3.5)
            for n, (speaker, line) in enumerate(lines)
        ]
        await transcripts.write_transcript(
            session,
            call=call,
            data=TranscriptWrite(
                language=language, segments=segments, status=TranscriptStatus.COMPLETED
            ),
            retention_days=TRANSCRIPT_RETENTION_DAYS,
        )
