"""Inbound call API shapes."""

from __future__ import annotations

from commbase.calls.inbound.enums import InboundRoute
from commbase.calls.inbound.service import Inbound
from commbase.calls.schemas import CallRead
from commbase.core.schemas import AppSchema


class InboundCallRead(AppSchema):
    """A received call and what answered it."""

    call: CallRead | None  # None: a private call rejected at once is already erased
    call_id: str
    number_id: str
    route: InboundRoute
    forward_to: str | None
    greeting: str | None
    language: str
    allowed_s: int

    @classmethod
    def of(cls, inbound: Inbound) -> InboundCallRead:
        call = inbound.call
        erased = call.erased_at is not None
        return cls(
            call=None if erased else CallRead.model_validate(call),
            call_id=call.id,
            number_id=inbound.number.id,
            route=inbound.route,
            forward_to=inbound.forward_to,
            greeting=inbound.greeting,
            language=inbound.policy.locale,
            allowed_s=inbound.allowed_s,
        )
