"""Agent sessions: open (token shown once), list, get, terminate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from commbase.core.auth import (
    Client,
    CurrentPrincipal,
    PrincipalKind,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.http import shown_once
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity.agent_sessions import service as agent_sessions
from commbase.identity.agent_sessions.schemas import (
    AgentSessionCreate,
    AgentSessionRead,
    AgentSessionWithToken,
)
from commbase.identity.audit import refusals_recorded
from commbase.identity.enums import AgentSessionStatus

router = APIRouter(prefix="/v1")

# -------------------------------------------------------- agent sessions


@router.post(
    "/agent-sessions",
    response_model=AgentSessionWithToken,
    status_code=status.HTTP_201_CREATED,
    tags=["agent-sessions"],
    summary="Open an agent session; its token is in this response only",
)
async def create_agent_session(
    body: AgentSessionCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.AGENT_SESSIONS_WRITE)
    async with refusals_recorded(session, database, actor=principal, client=client):
        agent, token = await agent_sessions.open_session(
            session,
            data=body,
            actor=principal,
            client=client,
            secret=settings.secret_key.get_secret_value(),
            default_ttl_s=settings.agent_session_ttl_s,
        )
    return shown_once(
        response, AgentSessionWithToken, AgentSessionRead.model_validate(agent), session_token=token
    )


@router.get("/agent-sessions", response_model=Page[AgentSessionRead], tags=["agent-sessions"])
async def list_agent_sessions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[AgentSessionStatus | None, Query(alias="status")] = None,
    agent_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    principal.require(Scope.AGENT_SESSIONS_READ)
    rows, cursor = await agent_sessions.list_sessions(
        session, org_id=principal.org_id, params=page, status=status_, agent_id=agent_id
    )
    return Page(data=[AgentSessionRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/agent-sessions/{session_id}", response_model=AgentSessionRead, tags=["agent-sessions"]
)
async def get_agent_session(
    session_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    if not (
        principal.kind == PrincipalKind.AGENT_SESSION and principal.credential_id == session_id
    ):
        principal.require(Scope.AGENT_SESSIONS_READ)
    return await agent_sessions.get_session(session, org_id=principal.org_id, session_id=session_id)


@router.post(
    "/agent-sessions/{session_id}/terminate",
    response_model=AgentSessionRead,
    tags=["agent-sessions"],
)
async def terminate_agent_session(
    session_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    # An agent may always end its own session.
    if not (
        principal.kind == PrincipalKind.AGENT_SESSION and principal.credential_id == session_id
    ):
        principal.require(Scope.AGENT_SESSIONS_WRITE)
    agent = await agent_sessions.get_session(
        session, org_id=principal.org_id, session_id=session_id
    )
    return await agent_sessions.terminate(
        session, agent=agent, actor=principal, client=client, cache=cache
    )
