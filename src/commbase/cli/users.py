"""``commbase users`` and ``commbase keys``: create a user (and its organization) and
an API key for a member."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from commbase.cli.console import REFUSED, console, fail, field_messages, run_command
from commbase.settings import get_settings

users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    organization: Annotated[str, typer.Option(help="Organization slug; created if missing")],
    role: Annotated[str, typer.Option(help="owner, admin, agent or viewer")] = "owner",
    first_name: Annotated[str, typer.Option()] = "",
    last_name: Annotated[str, typer.Option()] = "",
    account_type: Annotated[
        str,
        typer.Option(
            help="A new organization's account type (free, standard, premium, enterprise), "
            "used while no live subscription names one"
        ),
    ] = "standard",
) -> None:
    """Create a user (and the organization, if it does not exist yet)."""
    from commbase.core.db import Database
    from commbase.identity import service
    from commbase.identity.enums import AccountType
    from commbase.identity.roles import Role
    from commbase.identity.schemas import UserCreate

    try:
        chosen = Role(role)
    except ValueError:
        raise fail(f"--role is one of {', '.join(r.value for r in Role)}, not {role!r}") from None
    try:
        kind = AccountType(account_type)
    except ValueError:
        names = ", ".join(t.value for t in AccountType)
        raise fail(f"--account-type is one of {names}, not {account_type!r}") from None
    try:
        # Checked before anything is written: a mistake leaves no new organization behind.
        data = UserCreate(
            email=email, password=password, first_name=first_name, last_name=last_name, role=chosen
        )
    except ValidationError as exc:
        raise fail(field_messages(exc)) from exc
    settings = get_settings()

    async def create() -> tuple[str, str, str | None]:
        database = Database(settings.database_url)
        try:
            async with database.sessionmaker() as session:
                org = await service.find_organization(session, slug_or_id=organization)
                created_org = None
                if org is None:
                    org = await service.create_organization(
                        session,
                        name=organization,
                        slug=service.slugify(organization),
                        account_type=kind,
                    )
                    created_org = org.id
                user, _ = await service.create_user(session, data=data, org_id=org.id)
                await session.commit()
                return user.id, org.slug, created_org
        finally:
            await database.dispose()

    user_id, slug, created_org = run_command(create())
    if created_org is not None:
        console.print(
            f"created organization {slug} ({created_org}): no organization was {organization!r}"
        )
    console.print(f"created {user_id} ({email}) as {role} of {slug}")


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="The key's creator (a member)")],
    organization: Annotated[str, typer.Option(help="Organization slug")],
    name: Annotated[str, typer.Option(help="Key name")] = "CLI key",
    environment: Annotated[str, typer.Option(help="live or test")] = "live",
    scopes: Annotated[
        str | None, typer.Option(help="Comma-separated; default all the creator has")
    ] = None,
) -> None:
    """Create an API key for a member and print its secret (shown once)."""
    from commbase.core.auth import Principal, PrincipalKind
    from commbase.core.db import Database
    from commbase.core.http import ClientInfo
    from commbase.core.ratelimit import RateLimitRule
    from commbase.core.scopes import Scope
    from commbase.identity import service
    from commbase.identity.api_keys import service as api_keys
    from commbase.identity.api_keys.schemas import ApiKeyCreate
    from commbase.identity.roles import scopes_for

    if environment not in ("live", "test"):
        raise fail(f"--environment is live or test, not {environment!r}")
    chosen: list[Scope] | None = None
    if scopes is not None:
        names = [part.strip() for part in scopes.split(",") if part.strip()]
        unknown = [part for part in names if part not in Scope._value2member_map_]
        if unknown or not names:
            raise fail(
                f"unknown scope(s): {', '.join(unknown) or '(none given)'}; "
                f"scopes are {', '.join(s.value for s in Scope)}"
            )
        chosen = [Scope(part) for part in names]
    try:
        data = ApiKeyCreate(
            name=name, environment="test" if environment == "test" else "live", scopes=chosen
        )
    except ValidationError as exc:
        raise fail(field_messages(exc)) from exc
    settings = get_settings()

    async def create() -> str:
        database = Database(settings.database_url)
        try:
            async with database.sessionmaker() as session:
                org = await service.find_organization(session, slug_or_id=organization)
                if org is None:
                    raise fail(f"no organization {organization!r}", code=REFUSED)
                user = await service.find_user_by_email(session, email=email)
                if user is None:
                    raise fail(f"no user with the email {email!r}", code=REFUSED)
                member = await service.get_membership(session, org_id=org.id, user_id=user.id)
                if member is None:
                    raise fail(f"{email} is not a member of {organization}", code=REFUSED)
                actor = Principal(
                    kind=PrincipalKind.USER_SESSION,
                    org_id=org.id,
                    credential_id="cli",
                    scopes=scopes_for(member.role),
                    rate_limit=RateLimitRule("cli", 1, 1),
                    user_id=user.id,
                    role=member.role,
                )
                _, secret = await api_keys.create_key(
                    session,
                    data=data,
                    actor=actor,
                    client=ClientInfo(None, None, None, "commbase-cli"),
                    secret=settings.secret_key.get_secret_value(),
                    tiers=settings.rate_limit_tiers,
                )
                await session.commit()
                return secret
        finally:
            await database.dispose()

    console.print(run_command(create()))
