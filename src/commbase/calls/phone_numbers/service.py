"""An organization's phone numbers: register, list, change and remove them; configure
them at their carrier; find the number an inbound call is for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.enums import ProviderName
from commbase.calls.phone_numbers import connect_secrets
from commbase.calls.phone_numbers.carriers import carrier_for
from commbase.calls.phone_numbers.enums import AnswerMode, Capability
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.calls.phone_numbers.schemas import (
    PhoneNumberCreate,
    PhoneNumberUpdate,
    check_answering,
)
from commbase.core.errors import AlreadyExists, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.identity import service as identity_service
from commbase.settings import Settings


async def _check_member(session: AsyncSession, *, org_id: str, user_id: str | None) -> None:
    if user_id is None:
        return
    try:
        await identity_service.get_member_user(session, org_id=org_id, user_id=user_id)
    except NotFound as exc:
        raise invalid(
            "member_user_id: no active member of the organization has this id",
            "member_user_id",
        ) from exc


async def _taken(session: AsyncSession, *, provider: str, number: str) -> bool:
    found = await session.scalar(
        select(PhoneNumber.id).where(PhoneNumber.provider == provider, PhoneNumber.number == number)
    )
    return found is not None


def _duplicate(number: str) -> AlreadyExists:
    # The same answer whichever organization holds it: another tenant's number is
    # not revealed beyond "this provider number is registered".
    return AlreadyExists(f"{number} is already registered with this provider", number=number)


async def create_number(
    session: AsyncSession,
    *,
    org_id: str,
    data: PhoneNumberCreate,
    settings: Settings,
    services: Mapping[str, Any],
) -> PhoneNumber:
    """Register a number for the organization and point its carrier at commbase."""
    await _check_member(session, org_id=org_id, user_id=data.member_user_id)
    if await _taken(session, provider=data.provider, number=data.number):
        raise _duplicate(data.number)
    fields = data.model_dump(exclude_none=True)
    number = PhoneNumber(org_id=org_id, **fields)
    number.capabilities = [str(c) for c in data.capabilities]
    _keep_connect_secret(number, settings=settings)
    session.add(number)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # registered concurrently
        raise _duplicate(data.number) from exc
    # The carrier is asked only once the row is known to be ours (a concurrent
    # registration of the same number fails above without touching the carrier). The
    # call is idempotent (it points the number at commbase's webhooks); a refusal rolls
    # the row back with the request.
    configured = await carrier_for(data.provider, settings=settings, services=services).configure(
        number
    )
    number.provider_sid = configured.provider_sid
    number.provider_state = configured.state
    return number


async def get_number(session: AsyncSession, *, org_id: str, number_id: str) -> PhoneNumber:
    number = await session.scalar(
        select(PhoneNumber).where(PhoneNumber.org_id == org_id, PhoneNumber.id == number_id)
    )
    if number is None:
        raise NotFound("Phone number not found")
    return number


async def list_numbers(
    session: AsyncSession, *, org_id: str, params: PageParams
) -> tuple[Sequence[PhoneNumber], str | None]:
    statement = select(PhoneNumber).where(PhoneNumber.org_id == org_id)
    return await paginate(session, statement, id_column=PhoneNumber.id, params=params)


def _keep_connect_secret(number: PhoneNumber, *, settings: Settings, rotate: bool = False) -> None:
    """A connect number has a handshake secret (a new one when rotated); others none."""
    if number.answer_mode != AnswerMode.CONNECT:
        number.connect_secret_encrypted = None
    elif rotate or number.connect_secret_encrypted is None:
        number.connect_secret_encrypted = connect_secrets.encrypt(
            connect_secrets.new_secret(), server_secret=settings.secret_key.get_secret_value()
        )


def connect_secret(number: PhoneNumber, *, settings: Settings) -> str | None:
    """The number's handshake secret in clear (None: not a connect number)."""
    if number.connect_secret_encrypted is None:
        return None
    return connect_secrets.decrypt(
        number.connect_secret_encrypted, server_secret=settings.secret_key.get_secret_value()
    )


async def update_number(
    session: AsyncSession, *, number: PhoneNumber, changes: PhoneNumberUpdate, settings: Settings
) -> PhoneNumber:
    data = changes.model_dump(exclude_unset=True)
    rotate = bool(data.pop("rotate_connect_secret", False))
    await _check_member(session, org_id=number.org_id, user_id=data.get("member_user_id"))

    def current(key: str) -> Any:
        return data[key] if key in data else getattr(number, key)

    try:
        check_answering(
            mode=current("answer_mode"),
            connect_url=current("connect_url"),
            member_user_id=current("member_user_id"),
            forward_to=current("forward_to"),
            after_hours_action=current("after_hours_action"),
            after_hours_forward_to=current("after_hours_forward_to"),
        )
    except ValueError as exc:
        raise invalid(str(exc), "answer_mode") from exc
    for key, value in data.items():
        setattr(number, key, [str(c) for c in value] if key == "capabilities" else value)
    if rotate and number.answer_mode != AnswerMode.CONNECT:
        raise invalid(
            "rotate_connect_secret: only connect numbers have a handshake secret",
            "rotate_connect_secret",
        )
    _keep_connect_secret(number, settings=settings, rotate=rotate)
    await session.flush()
    return number


async def delete_number(session: AsyncSession, *, number: PhoneNumber) -> None:
    """Remove the number from commbase (it stays the carrier account's number)."""
    await session.delete(number)
    await session.flush()


async def find_for_inbound(
    session: AsyncSession, *, provider: str, number: str
) -> PhoneNumber | None:
    """The number a carrier's inbound call is for, whichever organization holds it."""
    return await session.scalar(
        select(PhoneNumber).where(PhoneNumber.provider == provider, PhoneNumber.number == number)
    )


async def ensure_simulator_number(
    session: AsyncSession, *, org_id: str, number: str, agent_id: str | None = None
) -> PhoneNumber:
    """The organization's simulator number ``number`` (E.164), registered if missing
    (demo data: a number ``make run`` can ring at once)."""
    found = await find_for_inbound(session, provider=ProviderName.SIMULATOR, number=number)
    if found is not None:
        return found
    created = PhoneNumber(
        org_id=org_id,
        number=number,
        provider=ProviderName.SIMULATOR,
        capabilities=[Capability.VOICE],
        agent_id=agent_id,
        provider_state={"simulated": True},
    )
    session.add(created)
    await session.flush()
    return created
