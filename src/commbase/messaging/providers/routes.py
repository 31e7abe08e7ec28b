"""Meta's WhatsApp Cloud API webhook: the verification handshake and signed notifications.

``GET`` answers the handshake (``hub.mode=subscribe``, ``hub.verify_token`` of a
channel account, ``hub.challenge`` echoed back). ``POST`` carries inbound
messages and statuses; its ``X-Hub-Signature-256`` must be the HMAC-SHA256 of
the raw body with the app secret of every account the payload names, or the
request is refused (403) and nothing is stored. A verified notification is stored
as it came and answered at once; its messages and statuses are filed after
commit, in batches, by the intake runner (``commbase.messaging.intake``), each at
most once. A notification for a number whose app secret this process read before
is verified against it and kept in one statement that checks the secret is still
the stored one (``accepting``); otherwise the accounts are read (``intake.accept``).

"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError

from commbase.core.db import Database, DbSession
from commbase.core.errors import InvalidRequest, PermissionDenied
from commbase.messaging import intake
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.providers.accepting import Accepting
from commbase.messaging.providers.whatsapp import WebhookPayload, signature_is_valid
from commbase.settings import Settings

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


def _accepting(request: Request) -> Accepting:
    accepting: Accepting | None = getattr(request.app.state, "whatsapp_accepting", None)
    if accepting is None:
        settings: Settings = request.app.state.settings
        accepting = Accepting(
            request.app.state.db, server_secret=settings.secret_key.get_secret_value()
        )
        request.app.state.whatsapp_accepting = accepting
    return accepting


@router.post("/webhook", status_code=200, response_class=Response)
async def receive_webhook(request: Request) -> Response:
    """Inbound messages and status updates from the Cloud API, signed by the app secret."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidRequest("The notification is too large")
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest("The body is not a WhatsApp Cloud API notification") from exc
    phone_number_ids = payload.phone_number_ids()
    header = request.headers.get("x-hub-signature-256")
    accepting = _accepting(request)
    if await accepting.try_fast(phone_number_ids=phone_number_ids, body=body, header=header):
        return Response(status_code=200)
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        accounts = await accounts_service.by_phone_number_ids(
            session, phone_number_ids=sorted(phone_number_ids)
        )
        accepting.forget(phone_number_ids - set(accounts))
        accepting.remember(accounts)
        if not accounts:
            raise PermissionDenied("No channel account has these phone number ids")
        for account in accounts.values():
            secret = accounts_service.secret_of(
                account, "app_secret", server_secret=accepting.server_secret
            )
            if secret is None or not signature_is_valid(
                body=body, header=header, app_secret=secret
            ):
                log.warning("whatsapp webhook signature refused", account_id=account.id)
                raise PermissionDenied("X-Hub-Signature-256 does not match the app secret")
        await intake.accept(session, accounts=accounts, body=body)
        await session.commit()
    return Response(status_code=200)
