"""The account mailer: an outbox effect that sends account emails after commit.

It reads the token's sealed copy, renders the template, sends, then wipes the
copy. A token already used or replaced by a newer one has no copy: nothing is
sent. The Message-ID is derived from the event, so a retry after a crash between
sending and wiping is recognisable as the same message.
"""

from __future__ import annotations

from sqlalchemy import update

from commbase.core.effects import EffectContext, effect
from commbase.core.email import SmtpConfig, deliver
from commbase.core.outbox import ClaimedEvent
from commbase.identity.accounts.enums import AccountEmail, TokenPurpose
from commbase.identity.accounts.models import AccountToken
from commbase.identity.accounts.service import unseal
from commbase.identity.email.events import ACCOUNT_EMAIL_REQUESTED
from commbase.identity.email.templates import render
from commbase.identity.enums import UserStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import Organization, User
from commbase.settings import Settings

CONSUMER = "identity.account_email"
_PAGES = {
    TokenPurpose.VERIFY_EMAIL: "verify-email",
    TokenPurpose.PASSWORD_RESET: "reset-password",
    TokenPurpose.INVITATION: "accept-invitation",
}


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        security=settings.smtp_security,
        sender=settings.email_from,
        folder=settings.email_dir,
    )


def link_base(settings: Settings) -> str:
    return (settings.account_link_base_url or settings.public_base_url).rstrip("/")


@effect(CONSUMER, event_types=[ACCOUNT_EMAIL_REQUESTED])
async def send_account_email(ctx: EffectContext, event: ClaimedEvent) -> None:
    settings: Settings = ctx.services["settings"]
    secret = settings.secret_key.get_secret_value()
    kind = AccountEmail(event.payload["kind"])
    token_id = event.payload.get("token_id")
    async with ctx.database.sessionmaker() as session:
        user = await session.get(User, event.payload["user_id"])
        if user is None or user.status == UserStatus.DELETED:
            return
        values = {"name": user.first_name or user.name or user.email, "org_name": "commbase"}
        base = link_base(settings)
        if token_id is None:
            values["link"] = f"{base}/forgot-password"
        else:
            row = await session.get(AccountToken, token_id)
            token = unseal(row.sealed, secret=secret) if row is not None and row.sealed else None
            if row is None or token is None:
                return  # used, replaced by a newer link, or sent already
            values["link"] = f"{base}/{_PAGES[TokenPurpose(row.purpose)]}?token={token}"
            values["hours"] = str(
                max(1, round((row.expires_at - row.created_at).total_seconds() / 3600))
            )
            if row.org_id is not None:
                org = await session.get(Organization, row.org_id)
                values["org_name"] = org.name if org is not None else "commbase"
            if row.membership_id is not None:
                member = await session.get(Membership, row.membership_id)
                values["role"] = member.role if member is not None else "member"
        to = user.email
    mail = render(kind, to=to, values=values, message_id=event.event_id)
    await deliver(mail, config=smtp_config(settings))
    if token_id is not None:
        async with ctx.database.sessionmaker() as session:
            await session.execute(
                update(AccountToken).where(AccountToken.id == token_id).values(sealed=None)
            )
            await session.commit()
