"""Sign in with an external ID token; link one to my account; list my links."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from commbase.core.auth import AnonymousRateLimit, Client, CurrentPrincipal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import PermissionDenied
from commbase.core.http import NO_STORE
from commbase.core.pagination import Page
from commbase.identity import account_types
from commbase.identity.accounts.limits import count_token_attempt
from commbase.identity.external import service as external
from commbase.identity.external.jwks import JwksCache
from commbase.identity.external.schemas import ExternalIdentityRead, ExternalLink, ExternalLogin
from commbase.identity.schemas import UserRead
from commbase.identity.sessions.schemas import LoginResponse, SessionRead
from commbase.settings import Settings

router = APIRouter(prefix="/v1", tags=["external sign-in"])


def _jwks(request: Request, settings: Settings) -> JwksCache:
    """The process's JWKS cache, made on first use."""
    cache: JwksCache | None = getattr(request.app.state, "jwks_cache", None)
    if cache is None:
        cache = JwksCache(refetch_min_s=settings.jwks_refetch_min_s)
        request.app.state.jwks_cache = cache
    return cache


@router.post(
    "/auth/external",
    response_model=LoginResponse,
    dependencies=[AnonymousRateLimit],
    summary="Sign in with a Firebase or OIDC ID token (verified against the provider's JWKS)",
)
async def sign_in(
    body: ExternalLogin,
    request: Request,
    response: Response,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> LoginResponse:
    await count_token_attempt(request, settings=settings, ip=client.ip)
    signed = await external.sign_in(
        session, data=body, client=client, settings=settings, cache=_jwks(request, settings)
    )
    response.headers.update(NO_STORE)
    return LoginResponse(
        token=signed.token,
        expires_at=signed.login.expires_at,
        session=SessionRead.model_validate(signed.login).model_copy(update={"current": True}),
        user=UserRead.model_validate(signed.user),
        organization=await account_types.organization_read(
            session, settings=settings, org=signed.organization
        ),
    )


def _session_user(principal: CurrentPrincipal) -> str:
    if principal.kind != PrincipalKind.USER_SESSION or principal.user_id is None:
        raise PermissionDenied("External identities belong to a login session's user")
    return principal.user_id


@router.post(
    "/me/external-identities",
    response_model=ExternalIdentityRead,
    status_code=status.HTTP_201_CREATED,
    summary="Link an external identity (its ID token) to my account",
)
async def link(
    body: ExternalLink,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> ExternalIdentityRead:
    user_id = _session_user(principal)
    await count_token_attempt(request, settings=settings, ip=client.ip)
    linked = await external.link_identity(
        session,
        user_id=user_id,
        data=body,
        client=client,
        settings=settings,
        cache=_jwks(request, settings),
    )
    return ExternalIdentityRead.model_validate(linked)


@router.get("/me/external-identities", response_model=Page[ExternalIdentityRead])
async def list_links(principal: CurrentPrincipal, session: DbSession) -> Page[ExternalIdentityRead]:
    """All on one page: a user links at most a few providers."""
    user_id = _session_user(principal)
    rows = await external.list_identities(session, user_id=user_id)
    return Page(data=[ExternalIdentityRead.model_validate(r) for r in rows], next_cursor=None)
