"""Twilio's inbound voice webhook: the number's voice URL."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from commbase.calls.enums import ProviderName
from commbase.calls.inbound import service, twiml
from commbase.calls.inbound.signed import verified_params
from commbase.calls.phone_numbers import service as numbers_service
from commbase.calls.phone_numbers.carriers import INBOUND_PATH
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings

router = APIRouter(prefix="", tags=["providers"])
log = structlog.get_logger("commbase.calls.inbound")
TWIML = "application/xml"
TWIML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {TWIML: {}}, "description": "TwiML"}
}


@router.post(
    INBOUND_PATH,
    response_class=Response,
    responses=TWIML_RESPONSE,
    summary="Twilio inbound call webhook (a number's voice URL), verified with X-Twilio-Signature",
    description=(
        "Creates the inbound call, finds or creates the caller's contact and answers "
        "with TwiML routed by the organization's working hours: ConversationRelay to "
        "an agent, a forward, or an after-hours greeting and voicemail. A repeated "
        "request for the same CallSid answers the same TwiML and creates nothing."
    ),
)
async def twilio_inbound(request: Request, session: DbSession, settings: AppSettings) -> Response:
    params = await verified_params(request, settings)
    if request.query_params.get(twiml.DONE_PARAMETER):
        # The voicemail's <Record action>: the message is recorded, the call ends.
        return Response(twiml.hangup(), media_type=TWIML)
    to, from_, sid = params.get("To", ""), params.get("From", ""), params.get("CallSid", "")
    number = await numbers_service.find_for_inbound(
        session, provider=ProviderName.TWILIO, number=to
    )
    if number is None or not sid or len(sid) > 64:
        log.info("inbound call to an unknown number rejected", call_sid=sid[:64])
        return Response(twiml.reject(), media_type=TWIML)
    inbound = await service.receive_inbound(
        session,
        number=number,
        from_number=from_,
        provider_call_id=sid,
        settings=settings,
    )
    return Response(
        twiml.render(inbound, public_base_url=settings.public_base_url), media_type=TWIML
    )
