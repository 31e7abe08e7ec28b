"""Reading a Twilio webhook commbase can trust: signed with the account's auth token
(``X-Twilio-Signature``, checked with the SDK's ``RequestValidator`` against the
public URL Twilio was given), as the call status callbacks are."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from commbase.calls.providers.twilio import signature_is_valid
from commbase.core.errors import AuthenticationRequired, ServiceUnavailable
from commbase.settings import Settings

MAX_BODY = 64 * 1024


async def verified_params(request: Request, settings: Settings) -> dict[str, str]:
    """The form parameters of a signed Twilio request; AuthenticationRequired (401)
    if it is unsigned or the signature does not verify."""
    signature = request.headers.get("x-twilio-signature")
    # The same refusal whether or not Twilio is configured.
    if not signature:
        raise AuthenticationRequired("X-Twilio-Signature is missing")
    if settings.twilio_auth_token is None:
        raise ServiceUnavailable("Twilio is not configured (COMMBASE_TWILIO_AUTH_TOKEN)")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise AuthenticationRequired("X-Twilio-Signature does not verify")
    # Blank values are kept: they are part of the signature.
    params = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not signature_is_valid(
        auth_token=settings.twilio_auth_token.get_secret_value(),
        url=url,
        params=params,
        signature=signature,
    ):
        raise AuthenticationRequired("X-Twilio-Signature does not verify")
    return params
