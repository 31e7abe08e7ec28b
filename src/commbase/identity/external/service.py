"""External sign-in: an ID token from Firebase or an OIDC provider signs in the
user linked to its subject.

A subject is linked to a user when a signed-in user links it
(``POST /v1/me/external-identities``), or at its first sign-in when the token's
email is verified by the provider and belongs to an account here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import AlreadyExists, InvalidCredentials, InvalidRequest
from commbase.core.http import ClientInfo
from commbase.core.time import utcnow
from commbase.identity import audit, service
from commbase.identity.enums import ActorType, AuditTarget, UserStatus
from commbase.identity.external.jwks import JwksCache, verify
from commbase.identity.external.models import ExternalIdentity
from commbase.identity.external.schemas import ExternalLink, ExternalLogin
from commbase.identity.models import User
from commbase.identity.sessions import service as sessions
from commbase.identity.tokens import hash_token
from commbase.identity.two_factor import service as two_factor
from commbase.settings import OidcProvider, Settings

FIREBASE_JWKS = (
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
)


def providers(settings: Settings) -> dict[str, OidcProvider]:
    """The configured providers by name; Firebase's from its project id."""
    known = {p.name: p for p in settings.oidc_providers}
    if settings.firebase_project_id:
        project = settings.firebase_project_id
        known.setdefault(
            "firebase",
            OidcProvider(
                name="firebase",
                issuer=f"https://securetoken.google.com/{project}",
                audience=project,
                jwks_url=FIREBASE_JWKS,
            ),
        )
    return known


async def _subject(
    *, provider_name: str, id_token: str, settings: Settings, cache: JwksCache
) -> tuple[OidcProvider, str, dict[str, object]]:
    provider = providers(settings).get(provider_name)
    if provider is None:
        raise InvalidRequest(f"No identity provider {provider_name!r} is configured")
    claims = await verify(
        cache,
        token=id_token,
        jwks_url=provider.jwks_url,
        issuer=provider.issuer,
        audience=provider.audience,
    )
    digest = hash_token(
        f"{provider.name}:{claims['sub']}", secret=settings.secret_key.get_secret_value()
    )
    return provider, digest, claims


async def _link(
    session: AsyncSession, *, user: User, provider: str, digest: str, client: ClientInfo
) -> ExternalIdentity:
    link = ExternalIdentity(user_id=user.id, provider=provider, subject_hash=digest)
    try:
        async with session.begin_nested():
            session.add(link)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists("This identity is linked to an account already") from exc
    memberships = await sessions.choose_membership(session, user_id=user.id, organization=None)
    if memberships is not None:
        await audit.record(
            session,
            org_id=memberships.org_id,
            action="user.external_identity_linked",
            actor_type=ActorType.USER,
            actor_id=user.id,
            target_type=AuditTarget.USER,
            target_id=user.id,
            client=client,
            details={"provider": provider},
        )
    return link


async def sign_in(
    session: AsyncSession,
    *,
    data: ExternalLogin,
    client: ClientInfo,
    settings: Settings,
    cache: JwksCache,
) -> sessions.SignedIn:
    """Open a login session for the user linked to the token's subject."""
    provider, digest, claims = await _subject(
        provider_name=data.provider, id_token=data.id_token, settings=settings, cache=cache
    )
    link = await session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.provider == provider.name, ExternalIdentity.subject_hash == digest
        )
    )
    user = await service.find_user(session, user_id=link.user_id) if link else None
    email = claims.get("email")
    if link is None and claims.get("email_verified") is True and isinstance(email, str):
        user = await service.find_user_by_email(session, email=email)
        if user is not None and user.status == UserStatus.ACTIVE:
            link = await _link(
                session, user=user, provider=provider.name, digest=digest, client=client
            )
    if user is None or link is None or user.status != UserStatus.ACTIVE:
        raise InvalidCredentials("No account is linked to this identity", reason="not_linked")
    membership = await sessions.choose_membership(
        session, user_id=user.id, organization=data.organization
    )
    if membership is None:
        raise InvalidCredentials("No account is linked to this identity", reason="not_linked")
    secret = settings.secret_key.get_secret_value()
    second = await two_factor.check_sign_in(
        session, user_id=user.id, org_id=membership.org_id, code=data.two_factor_code, secret=secret
    )
    if second is False:
        raise InvalidCredentials("The two-factor code is wrong", two_factor_required=True)
    link.last_used_at = utcnow()
    return await sessions.open_session(
        session,
        user=user,
        membership=membership,
        client=client,
        secret=secret,
        ttl_s=settings.login_session_ttl_s,
        method=f"external:{provider.name}",
    )


async def link_identity(
    session: AsyncSession,
    *,
    user_id: str,
    data: ExternalLink,
    client: ClientInfo,
    settings: Settings,
    cache: JwksCache,
) -> ExternalIdentity:
    """Link the token's subject to the signed-in user."""
    provider, digest, _ = await _subject(
        provider_name=data.provider, id_token=data.id_token, settings=settings, cache=cache
    )
    user = await service.find_user(session, user_id=user_id)
    if user is None:
        raise InvalidCredentials("No account")
    return await _link(session, user=user, provider=provider.name, digest=digest, client=client)


async def list_identities(session: AsyncSession, *, user_id: str) -> Sequence[ExternalIdentity]:
    rows = await session.scalars(
        select(ExternalIdentity)
        .where(ExternalIdentity.user_id == user_id)
        .order_by(ExternalIdentity.id)
    )
    return rows.all()
