"""Meta's WhatsApp Cloud API webhook: the verification handshake and signed notifications.

``GET`` answers the handshake (``hub.mode=subscribe``, ``hub.verify_token`` of a
channel account, ``hub.challenge`` echoed back). ``POST`` carries inbound
messages and statuses; its ``X-Hub-Signature-256`` must be the HMAC-SHA256 of
the raw body with the app secret of every account the payload names, or the
request is refused (403) and nothing is stored. A verified notification is stored
as it came (``intake.accept``: one insert) and answered at once; its messages and
statuses are filed after commit, in batches, by the intake runner
(``commbase.messaging.intake``), each at most once.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import InvalidRequest, PermissionDenied
from commbase.messaging import intake
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.providers.whatsapp import WebhookPayload, signature_is_valid

log = structlog.get_logger("commbase.messaging.whatsapp")
router = APIRouter(prefix="/v1/providers/whatsapp", tags=["providers"])
MAX_BODY = 3_000_000


@router.get("/webhook", response_class=PlainTextResponse)
async def verify_webhook(
    session: DbSession,
    mode: Annotated[str, Query(alias="hub.mode", max_length=20)],
    verify_token: Annotated[str, Query(alias="hub.verify_token", max_length=200)],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)],
) -> PlainTextResponse:
    """Meta's subscription handshake: the challenge back if the verify token is an account's."""
    account = await accounts_service.by_verify_token(session, verify_token=verify_token)
    if mode != "subscribe" or account is None:
        raise PermissionDenied("Unknown verify token")
    return PlainTextResponse(challenge)


@router.post("/webhook", status_code=200, response_class=Response)
async def receive_webhook(request: Request, session: DbSession, settings: AppSettings) -> Response:
    """Inbound messages and status updates from the Cloud API, signed by the app secret."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidRequest("The notification is too large")
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest("The body is not a WhatsApp Cloud API notification") from exc
    accounts = await accounts_service.by_phone_number_ids(
        session, phone_number_ids=sorted(payload.phone_number_ids())
    )
    if not accounts:
        raise PermissionDenied("No channel account has these phone number ids")
    server_secret = settings.secret_key.get_secret_value()
    header = request.headers.get("x-hub-signature-256")
    for account in accounts.values():
        secret = accounts_service.secret_of(account, "app_secret", server_secret=server_secret)
        if secret is None or not signature_is_valid(body=body, header=header, app_secret=secret):
            log.warning("whatsapp webhook signature refused", account_id=account.id)
            raise PermissionDenied("X-Hub-Signature-256 does not match the app secret")
    await intake.accept(session, accounts=accounts, body=body)
    return Response(status_code=200)
