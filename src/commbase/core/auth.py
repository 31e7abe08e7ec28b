"""The ``Principal`` every authenticated route receives, and how it is resolved.

``Authorization: Bearer <token>`` may carry an API key (``cb_live_``/``cb_test_``),
a login session token (``cb_sess_``) or an agent session token (``cb_agt_``).
The identity domain installs the resolver as ``app.state.authenticator``; core
only knows its shape, so core imports no domain.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import DbSession
from commbase.core.errors import AuthenticationRequired, RateLimited, ScopeMissing
from commbase.core.http import ClientInfo, client_of
from commbase.core.ratelimit import RateLimiter, RateLimitRule
from commbase.core.scopes import Scope

AUTH_DURATION = Histogram(
    "commbase_auth_duration_seconds",
    "Time to resolve a bearer token to a principal (verification, cache, database)",
    ["kind"],
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)


class PrincipalKind(StrEnum):
    USER_SESSION = "user_session"
    API_KEY = "api_key"
    AGENT_SESSION = "agent_session"


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What an API key carries besides its scopes."""

    environment: str  # live | test
    max_concurrent_calls: int


@dataclass(frozen=True, slots=True)
class AgentGrant:
    """What an agent session was allowed when it was opened: the user's consent and
    the session's limits."""

    agent_id: str
    session_type: str  # guest | authenticated
    calling_authorized: bool
    privacy_mode: bool
    max_spend_limit: int | None  # minor units over the session's life
    data_retention: str  # session_only | 30_days | permanent
    calls_per_hour: int
    max_call_duration: int  # seconds

    @classmethod
    def of(
        cls, *, agent_id: str, session_type: str, consent: dict[str, Any], limits: dict[str, Any]
    ) -> AgentGrant:
        return cls(
            agent_id=agent_id,
            session_type=session_type,
            calling_authorized=bool(consent.get("calling_authorized")),
            privacy_mode=bool(consent.get("privacy_mode")),
            max_spend_limit=consent.get("max_spend_limit"),
            data_retention=str(consent.get("data_retention") or "30_days"),
            calls_per_hour=int(limits.get("calls_per_hour") or 0),
            max_call_duration=int(limits.get("max_call_duration") or 0),
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which organization, and what they may do."""

    kind: PrincipalKind
    org_id: str
    credential_id: str  # key_..., sess_... or ags_...
    scopes: frozenset[Scope]
    rate_limit: RateLimitRule
    user_id: str | None = None
    role: str | None = None
    key: KeyGrant | None = None  # API keys
    agent: AgentGrant | None = None  # agent sessions
    # False for test-mode credentials: their calls and payments never reach a real
    # carrier or payment provider.
    livemode: bool = True

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    def require(self, *scopes: Scope) -> None:
        """Raise ``ScopeMissing`` unless every scope is held."""
        missing = [s.value for s in scopes if s not in self.scopes]
        if missing:
            raise ScopeMissing(
                f"This request needs the scope(s): {', '.join(missing)}", required=missing
            )

    def describe(self) -> dict[str, Any]:
        """The credential as ``GET /v1/me`` shows it."""
        shown: dict[str, Any] = {
            "kind": self.kind.value,
            "id": self.credential_id,
            "scopes": sorted(s.value for s in self.scopes),
            "livemode": self.livemode,
        }
        if self.key is not None:
            shown.update(asdict(self.key))
        if self.agent is not None:
            shown.update(asdict(self.agent))
        return shown

    @property
    def actor_id(self) -> str:
        """The id audit entries name as the actor: the user, else the credential."""
        return self.user_id or self.credential_id


class Authenticator(Protocol):
    async def __call__(
        self, *, session: AsyncSession, token: str, client: ClientInfo, request: Request
    ) -> Principal: ...


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def enforce_rate_limit(request: Request, *, key: str, rule: RateLimitRule) -> None:
    """Count this request against ``key``; raise 429 past the rule's limit."""
    limiter: RateLimiter = request.app.state.rate_limiter
    result = await limiter.hit(key, rule)
    request.state.ratelimit = result
    if not result.allowed:
        raise RateLimited(
            f"Limit of {rule.limit} requests per {rule.window_s}s reached; "
            f"retry in {result.reset_s}s",
            headers=result.headers(),
        )


async def _principal(request: Request, session: DbSession) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationRequired(
            "Send 'Authorization: Bearer <api key or session token>'",
            headers={"WWW-Authenticate": 'Bearer realm="commbase"'},
        )
    authenticator: Authenticator = request.app.state.authenticator
    started = time.perf_counter()
    principal = await authenticator(
        session=session, token=token, client=client_of(request.scope["state"]), request=request
    )
    AUTH_DURATION.labels(principal.kind.value).observe(time.perf_counter() - started)
    await enforce_rate_limit(
        request, key=f"{principal.kind}:{principal.credential_id}", rule=principal.rate_limit
    )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


async def _anonymous_rate_limit(request: Request) -> None:
    settings = request.app.state.settings
    client = client_of(request.scope["state"])
    await enforce_rate_limit(
        request,
        key=f"ip:{client.ip}",
        rule=RateLimitRule("anonymous", settings.anonymous_rate_limit, 60),
    )


AnonymousRateLimit = Depends(_anonymous_rate_limit)


def client_info(request: Request) -> ClientInfo:
    return client_of(request.scope["state"])


Client = Annotated[ClientInfo, Depends(client_info)]
