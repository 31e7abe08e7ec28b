"""Conversations and messages API. Thin: parse, authorize, call the service.

Reading needs ``messages:read``, changing ``messages:write``. An agent session
works only with the conversations assigned to it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from commbase.contacts import service as contacts_service
from commbase.core.auth import CurrentPrincipal, Principal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import NotFound, invalid
from commbase.core.idempotency import request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.core.types import PathId
from commbase.identity import service as identity_service
from commbase.messaging import delivery as _delivery  # noqa: F401  (registers the send effect)
from commbase.messaging import inbound, media, opening, opt_outs, sending, service
from commbase.messaging import jobs as _jobs  # noqa: F401  (registers its jobs)
from commbase.messaging.accounts import service as accounts_service
from commbase.messaging.enums import ChannelKind, ConversationStatus, OptOutSource
from commbase.messaging.models import Conversation
from commbase.messaging.schemas import (
    Assignment,
    ConversationCreate,
    ConversationRead,
    ConversationUpdate,
    InboundCreate,
    LabelChange,
    MessageCreate,
    MessageRead,
    NoteCreate,
    NoteRead,
    OptOutCreate,
    OptOutRead,
    SearchHit,
    StatusChange,
)

router = APIRouter(prefix="/v1/conversations", tags=["messaging"])
messages_router = APIRouter(prefix="/v1/messages", tags=["messaging"])

Filter = Annotated[str | None, Query(max_length=40)]


def _agent_session_of(principal: Principal) -> str | None:
    return principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None


async def _conversation(
    conversation_id: str, principal: Principal, session: DbSession, *, for_update: bool = False
) -> Conversation:
    return await service.get_conversation(
        session,
        org_id=principal.org_id,
        conversation_id=conversation_id,
        agent_session_id=_agent_session_of(principal),
        for_update=for_update,
    )


@router.post("", response_model=ConversationRead, status_code=status.HTTP_201_CREATED)
async def open_conversation(
    body: ConversationCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """An agent session opens conversations with its own contacts, assigned to it."""
    principal.require(Scope.MESSAGES_WRITE)
    account = await accounts_service.check_account(
        session, org_id=principal.org_id, account_id=body.account_id
    )
    agent_session_id = _agent_session_of(principal)
    try:
        contact = await contacts_service.get_contact(
            session,
            org_id=principal.org_id,
            contact_id=body.contact_id,
            owner_agent_session_id=agent_session_id,
        )
    except NotFound as exc:
        raise invalid("contact_id is not a contact of this organization", "contact_id") from exc
    conversation = await opening.open_conversation(
        session,
        account=account,
        contact_id=contact.id,
        at=utcnow(),
        client_phone=contact.phone,
        client_name=contact.name,
    )
    if agent_session_id and conversation.assignee_agent_session_id != agent_session_id:
        if conversation.assignee_user_id or conversation.assignee_agent_session_id:
            raise invalid("the contact's open conversation belongs to someone else", "contact_id")
        await service.assign(
            session,
            conversation=conversation,
            assignment=Assignment(agent_session_id=agent_session_id),
        )
    return conversation


@router.get("", response_model=Page[ConversationRead])
async def list_conversations(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status: ConversationStatus | None = None,
    assignee_user_id: Filter = None,
    assignee_agent_session_id: Filter = None,
    unassigned: bool | None = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    account_id: Filter = None,
    channel: ChannelKind | None = None,
    contact_id: Filter = None,
) -> Any:
    principal.require(Scope.MESSAGES_READ)
    rows, cursor = await service.list_conversations(
        session,
        org_id=principal.org_id,
        params=page,
        agent_session_id=_agent_session_of(principal),
        status=status,
        assignee_user_id=assignee_user_id,
        assignee_agent_session_id=assignee_agent_session_id,
        unassigned=unassigned,
        label=label,
        account_id=account_id,
        channel=channel,
        contact_id=contact_id,
    )
    return Page(data=[ConversationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/search", response_model=Page[SearchHit])
async def search_messages(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find")],
) -> Any:
    """Messages whose text holds every word of ``q``, newest first, with a snippet."""
    principal.require(Scope.MESSAGES_READ)
    hits, cursor = await service.search_messages(
        session,
        org_id=principal.org_id,
        query=q,
        params=page,
        agent_session_id=_agent_session_of(principal),
    )
    return Page(data=[SearchHit.model_validate(hit) for hit in hits], next_cursor=cursor)


@router.get("/{conversation_id}", response_model=ConversationRead)
async def get_conversation(
    conversation_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.MESSAGES_READ)
    return await _conversation(conversation_id, principal, session)


@router.patch("/{conversation_id}", response_model=ConversationRead)
async def update_conversation(
    conversation_id: PathId,
    body: ConversationUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    """Priority, seed 004's analysis and outcome, and the satisfaction rating."""
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session, for_update=True)
    return await service.update_conversation(
        session, conversation=conversation, changes=body, now=utcnow()
    )


@router.post("/{conversation_id}/status", response_model=ConversationRead)
async def change_status(
    conversation_id: PathId, body: StatusChange, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session, for_update=True)
    return await service.change_status(
        session, conversation=conversation, change=body, now=utcnow()
    )


@router.post("/{conversation_id}/assign", response_model=ConversationRead)
async def assign(
    conversation_id: PathId, body: Assignment, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session, for_update=True)
    return await service.assign(session, conversation=conversation, assignment=body)


@router.post("/{conversation_id}/labels", response_model=ConversationRead)
async def change_labels(
    conversation_id: PathId, body: LabelChange, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session, for_update=True)
    return await service.change_labels(session, conversation=conversation, change=body)


@router.post(
    "/{conversation_id}/notes", response_model=NoteRead, status_code=status.HTTP_201_CREATED
)
async def add_note(
    conversation_id: PathId, body: NoteCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """A private note: the team sees it, the contact never does."""
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session)
    agent_session_id = _agent_session_of(principal)
    return await service.add_note(
        session,
        conversation=conversation,
        data=body,
        author_user_id=None if agent_session_id else principal.user_id,
        author_agent_session_id=agent_session_id,
    )


@router.get("/{conversation_id}/notes", response_model=Page[NoteRead])
async def list_notes(
    conversation_id: PathId, principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    principal.require(Scope.MESSAGES_READ)
    conversation = await _conversation(conversation_id, principal, session)
    rows, cursor = await service.list_notes(session, conversation=conversation, params=page)
    return Page(data=[NoteRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{conversation_id}/messages", response_model=Page[MessageRead])
async def list_messages(
    conversation_id: PathId, principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    principal.require(Scope.MESSAGES_READ)
    conversation = await _conversation(conversation_id, principal, session)
    rows, cursor = await service.list_messages(session, conversation=conversation, params=page)
    return Page(data=[MessageRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/{conversation_id}/messages",
    response_model=MessageRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={429: {"description": "The assistant's daily message limit is reached"}},
)
async def send_message(
    conversation_id: PathId,
    body: MessageCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    """Queue a message to the contact; it is sent after commit (``message.sent`` and the
    statuses that follow report how it went). Accepts an ``Idempotency-Key``."""
    principal.require(Scope.MESSAGES_WRITE)
    conversation = await _conversation(conversation_id, principal, session, for_update=True)
    account = await accounts_service.get_account(
        session, org_id=principal.org_id, account_id=conversation.account_id
    )
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    agent_session_id = _agent_session_of(principal)
    return await sending.queue_message(
        session,
        account=account,
        conversation=conversation,
        data=body,
        now=utcnow(),
        timezone=org.timezone,
        sender_user_id=principal.user_id,
        sender_agent_session_id=agent_session_id,
        idempotency_key=request_key(request),
        livemode=principal.livemode,
    )


@messages_router.post(
    "/inbound",
    response_model=MessageRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A message with this provider_message_id was stored before"}},
)
async def post_inbound(
    body: InboundCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    account_id: Annotated[str, Query(min_length=1, max_length=40)],
) -> Any:
    """A contact's message on a web chat, email, SMS, Telegram or Instagram account, posted
    by your widget or gateway; it opens or continues the contact's conversation."""
    principal.require(Scope.MESSAGES_WRITE)
    account = await accounts_service.check_account(
        session, org_id=principal.org_id, account_id=account_id
    )
    return await inbound.receive_posted(session, account=account, data=body, now=utcnow())


@messages_router.get("/{message_id}", response_model=MessageRead)
async def get_message(message_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.MESSAGES_READ)
    message = await service.get_message(session, org_id=principal.org_id, message_id=message_id)
    # An agent session sees only the messages of conversations assigned to it.
    await _conversation(message.conversation_id, principal, session)
    return message


@messages_router.get(
    "/{message_id}/media",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file, as WhatsApp has it", "content": {"*/*": {}}},
        404: {"description": "No such message, or it has no WhatsApp media"},
    },
)
async def get_message_media(
    message_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    request: Request,
) -> StreamingResponse:
    """An inbound WhatsApp message's image, audio, video or document, fetched from the
    Cloud API with the account's token and streamed through (at most 25 MB)."""
    message = await get_message(message_id, principal, session)
    found = await media.media_file(
        session,
        message=message,
        server_secret=settings.secret_key.get_secret_value(),
        transport=request.app.state.job_services.get("whatsapp_transport"),
    )
    client, response = await media.open_stream(found)
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(
        media.relay(client, response), media_type=found.mime_type, headers=headers
    )


opt_outs_router = APIRouter(prefix="/v1/messaging/opt-outs", tags=["messaging"])


@opt_outs_router.get("", response_model=Page[OptOutRead])
async def list_opt_outs(principal: CurrentPrincipal, session: DbSession, page: PageQuery) -> Any:
    """Contacts who receive no campaign messages (they replied STOP, or were marked)."""
    principal.require(Scope.MESSAGES_READ)
    rows, cursor = await opt_outs.list_opt_outs(session, org_id=principal.org_id, params=page)
    return Page(data=[OptOutRead.model_validate(r) for r in rows], next_cursor=cursor)


@opt_outs_router.post("", response_model=OptOutRead, status_code=status.HTTP_201_CREATED)
async def mark_opted_out(
    body: OptOutCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.MESSAGES_WRITE)
    try:
        await contacts_service.get_contact(
            session,
            org_id=principal.org_id,
            contact_id=body.contact_id,
            owner_agent_session_id=_agent_session_of(principal),
        )
    except NotFound as exc:
        raise invalid("contact_id is not a contact of this organization", "contact_id") from exc
    return await opt_outs.opt_out(
        session, org_id=principal.org_id, contact_id=body.contact_id, source=OptOutSource.MANUAL
    )


@opt_outs_router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def opt_back_in(contact_id: PathId, principal: CurrentPrincipal, session: DbSession) -> None:
    """The contact receives campaigns again."""
    principal.require(Scope.MESSAGES_WRITE)
    await opt_outs.opt_in(session, org_id=principal.org_id, contact_id=contact_id)
