"""Transcripts API. Thin: parse, authorize, call ``commbase.calls.transcripts``.

An agent session reaches only the transcripts of the calls it placed; a user, or
a user's API key, every transcript of the organization.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from commbase.calls import service as calls_service
from commbase.calls.transcripts import service as transcripts
from commbase.calls.transcripts.schemas import SearchHit, TranscriptRead, TranscriptWrite
from commbase.core.auth import CurrentPrincipal, Principal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity import service as identity_service

router = APIRouter(prefix="/v1", tags=["transcripts"])


def _agent_session_of(principal: Principal) -> str | None:
    """The agent session whose calls alone the caller may touch, if it is one."""
    return principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None


@router.put("/calls/{call_id}/transcript", response_model=TranscriptRead)
async def write_call_transcript(
    call_id: PathId,
    body: TranscriptWrite,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Create the call's transcript or update it: replace its segments or append to them."""
    principal.require(Scope.CALLS_WRITE)
    call = await calls_service.get_call(session, principal=principal, call_id=call_id)
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    return await transcripts.write_transcript(
        session,
        call=call,
        data=body,
        retention_days=transcripts.retention_days_for(
            org.settings, settings.transcript_retention_days
        ),
    )


@router.get("/calls/{call_id}/transcript", response_model=TranscriptRead)
async def get_call_transcript(
    call_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.TRANSCRIPTS_READ)
    call = await calls_service.get_call(session, principal=principal, call_id=call_id)
    return await transcripts.get_for_call(session, org_id=principal.org_id, call_id=call.id)


@router.get(
    "/calls/{call_id}/transcript.txt",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "One line per segment"}},
)
async def get_call_transcript_text(
    call_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> PlainTextResponse:
    principal.require(Scope.TRANSCRIPTS_READ)
    call = await calls_service.get_call(session, principal=principal, call_id=call_id)
    transcript = await transcripts.get_for_call(session, org_id=principal.org_id, call_id=call.id)
    return PlainTextResponse(
        transcripts.as_plain_text(transcript),
        headers={"Content-Disposition": f'inline; filename="{transcript.id}.txt"'},
    )


# Declared before /transcripts/{transcript_id}, which would otherwise take "search".
@router.get("/transcripts/search", response_model=Page[SearchHit])
async def search_transcripts(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find")],
) -> Any:
    """Transcripts containing every word of ``q``, best match first, with snippets.

    Words are stemmed, and stop words ignored, in each transcript's language
    (its ``search_config``); pass ``next_cursor`` back as ``cursor`` for more.
    """
    principal.require(Scope.TRANSCRIPTS_READ)
    hits, cursor = await transcripts.search(
        session,
        org_id=principal.org_id,
        query=q,
        params=page,
        agent_session_id=_agent_session_of(principal),
    )
    return Page(data=hits, next_cursor=cursor)


@router.get("/transcripts/{transcript_id}", response_model=TranscriptRead)
async def get_transcript(
    transcript_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.TRANSCRIPTS_READ)
    return await transcripts.get_transcript(
        session,
        org_id=principal.org_id,
        transcript_id=transcript_id,
        agent_session_id=_agent_session_of(principal),
    )
