"""The command line: mistakes are messages, not tracebacks; it says what it did."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.cli import alembic_config
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.models import Organization, User
from commbase.identity.roles import Role
from commbase.settings import get_settings
from tests.core.conftest import invoke
from tests.identity.factories import PASSWORD, add_member, auth, make_tenant

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def _count(app: FastAPI, model: type[ApiKey] | type[Organization] | type[User]) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output
    assert 'File "' not in output, output


# ------------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scopes", "bogus"], "unknown scope(s): bogus; scopes are org:read"),
        (["--scopes", "calls:read, nope ,contacts:read"], "unknown scope(s): nope;"),
        (["--scopes", ","], "unknown scope(s): (none given)"),
        (["--environment", "prod"], "--environment is live or test, not 'prod'"),
        (["--name", ""], "name:"),
    ],
)
async def test_keys_create_explains_a_bad_option(
    app: FastAPI, cli_env: None, options: list[str], message: str
) -> None:
    tenant = await make_tenant(app)
    keys_before = await _count(app, ApiKey)

    result = invoke(
        ["keys", "create", "--email", tenant.owner_email, "--organization", tenant.slug, *options]
    )

    assert result.exit_code == 2, result.output
    assert "error:" in result.output
    assert message in " ".join(result.output.split()), result.output
    _no_traceback(result.output)
    assert await _count(app, ApiKey) == keys_before


async def test_keys_create_names_what_it_cannot_find(app: FastAPI, cli_env: None) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)

    cases = {
        "no organization 'no-such-org'": [
            "--email",
            tenant.owner_email,
            "--organization",
            "no-such-org",
        ],
        "no user with the email 'nobody@nowhere.example'": [
            "--email",
            "nobody@nowhere.example",
            "--organization",
            tenant.slug,
        ],
        f"{other.owner_email} is not a member of {tenant.slug}": [
            "--email",
            other.owner_email,
            "--organization",
            tenant.slug,
        ],
    }
    for message, options in cases.items():
        result = invoke(["keys", "create", *options])
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split()), result.output
        _no_traceback(result.output)


async def test_keys_create_refuses_scopes_beyond_the_creators_role(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    tenant = await make_tenant(app)
    _, viewer_email = await add_member(app, tenant, role=Role.VIEWER)
    keys_before = await _count(app, ApiKey)

    result = invoke(
        [
            "keys",
            "create",
            *("--email", viewer_email, "--organization", tenant.slug),
            *("--scopes", "api_keys:write"),
        ]
    )

    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    _no_traceback(result.output)
    assert await _count(app, ApiKey) == keys_before


async def test_keys_create_prints_a_working_key(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    tenant = await make_tenant(app)

    result = invoke(
        [
            "keys",
            "create",
            *("--email", tenant.owner_email, "--organization", tenant.slug),
            *("--scopes", "org:read,calls:read", "--environment", "test"),
        ]
    )

    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("cb_test_")
    me = await client.get("/v1/me", headers=auth(secret))
    assert me.status_code == 200, me.text
    assert sorted(me.json()["principal"]["scopes"]) == ["calls:read", "org:read"]


# ----------------------------------------------------------------------- users


async def test_users_create_says_when_it_creates_an_organization(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    first = invoke(
        ["users", "create", "--email", "ann@acme.example", "--organization", "Acme Widgets"],
        input=f"{PASSWORD}\n",
    )
    second = invoke(
        [
            "users",
            "create",
            *("--email", "bob@acme.example", "--organization", "acme-widgets"),
            *("--role", "viewer"),
        ],
        input=f"{PASSWORD}\n",
    )

    assert first.exit_code == 0, first.output
    assert "created organization acme-widgets (org_" in first.output
    assert "no organization was 'Acme Widgets'" in " ".join(first.output.split())
    assert "(ann@acme.example) as owner of acme-widgets" in first.output
    assert second.exit_code == 0, second.output
    assert "created organization" not in second.output
    assert "(bob@acme.example) as viewer of acme-widgets" in second.output
    assert await _count(app, Organization) == 1
    login = await client.post(
        "/v1/auth/login", json={"email": "bob@acme.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    me = await client.get("/v1/me", headers=auth(login.json()["token"]))
    assert me.json()["role"] == "viewer"


@pytest.mark.parametrize(
    ("options", "password", "message"),
    [
        (["--role", "superuser"], PASSWORD, "--role is one of owner, admin, agent, viewer"),
        (
            ["--account-type", "gold"],
            PASSWORD,
            "--account-type is one of free, standard, premium, enterprise, not 'gold'",
        ),
        ([], "short", "password:"),
        (["--email", "not-an-email"], PASSWORD, "email:"),
    ],
)
async def test_users_create_explains_a_mistake_and_creates_nothing(
    app: FastAPI, cli_env: None, options: list[str], password: str, message: str
) -> None:
    args = ["users", "create", "--email", "cat@new.example", "--organization", "Brand New"]
    result = invoke([*args, *options], input=f"{password}\n")

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    _no_traceback(result.output)
    assert await _count(app, Organization) == 0
    assert await _count(app, User) == 0


async def test_users_create_sets_a_new_organizations_account_type(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    args = ["users", "create", "--email", "dee@big.example", "--organization", "Big Co"]
    result = invoke([*args, "--account-type", "premium"], input=f"{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    login = await client.post(
        "/v1/auth/login", json={"email": "dee@big.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    org = login.json()["organization"]
    assert (org["account_type"], org["account_type_source"]) == ("premium", "default")


async def test_users_create_refuses_an_existing_member(app: FastAPI, cli_env: None) -> None:
    tenant = await make_tenant(app)

    result = invoke(
        ["users", "create", "--email", tenant.owner_email, "--organization", tenant.slug],
        input=f"{PASSWORD}\n",
    )

    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    _no_traceback(result.output)
    assert await _count(app, User) == 1


# --------------------------------------------------------------------- migrate


def test_migrate_says_which_revisions_it_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("COMMBASE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        empty = invoke(["migrate"])
        again = invoke(["migrate"])
        command.downgrade(alembic_config(url), "0009")
        partly = invoke(["migrate"])
    finally:
        get_settings.cache_clear()

    assert empty.exit_code == 0, empty.output
    assert f"(empty database) -> {HEAD}" in empty.output
    assert "0001, 0002" in " ".join(empty.output.split())
    assert again.exit_code == 0, again.output
    assert f"database is up to date at revision {HEAD}; nothing applied" in again.output
    assert partly.exit_code == 0, partly.output
    assert f"0009 -> {HEAD} (0010" in " ".join(partly.output.split())


# aiosqlite's worker thread must not die with a traceback of its own afterwards.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_migrate_reports_a_database_it_cannot_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMBASE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/no/such/dir.db")
    get_settings.cache_clear()
    try:
        result = invoke(["migrate"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1, result.output
    assert "cannot use the database" in result.output
    _no_traceback(result.output)


async def test_migrate_on_a_migrated_database_applies_nothing(cli_env: None) -> None:
    result = invoke(["migrate"])

    assert result.exit_code == 0, result.output
    assert f"up to date at revision {HEAD}; nothing applied" in result.output


# ------------------------------------------------------------------------ jobs


async def test_jobs_run_for_one_organization(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    tenant = await make_tenant(app)

    for_one = invoke(["jobs", "run", "privacy.retention", "--organization", tenant.slug])
    global_for_one = invoke(
        ["jobs", "run", "identity.expire_sessions", "--organization", tenant.slug]
    )
    unknown_org = invoke(["jobs", "run", "privacy.retention", "--organization", "nope"])

    assert for_one.exit_code == 0, for_one.output
    assert "privacy.retention: succeeded" in for_one.output
    runs = await client.get("/v1/jobs/privacy.retention/runs", headers=tenant.headers)
    assert [r["trigger"] for r in runs.json()["data"]] == ["manual"]
    assert global_for_one.exit_code == 2, global_for_one.output
    assert "runs for every organization at once" in " ".join(global_for_one.output.split())
    assert unknown_org.exit_code == 1, unknown_org.output
    assert "no organization 'nope'" in unknown_org.output
    for result in (global_for_one, unknown_org):
        _no_traceback(result.output)


# --------------------------------------------------------------------- effects


async def test_an_effects_worker_dials_what_api_processes_queued(
    app: FastAPI, client: httpx.AsyncClient, cli_env: None
) -> None:
    """API processes with COMMBASE_RUN_JOBS=false only queue calls; a separate
    `commbase effects worker` dials them."""
    tenant = await make_tenant(app)
    wallet = await client.post("/v1/wallets", json={}, headers=tenant.headers)
    assert wallet.status_code == 201, wallet.text
    topped = await client.post(
        f"/v1/wallets/{wallet.json()['id']}/topups", json={"amount": 1000}, headers=tenant.headers
    )
    assert topped.status_code == 201, topped.text
    placed = await client.post("/v1/calls", json={"to": "+14155550142"}, headers=tenant.headers)
    assert placed.status_code == 201, placed.text
    assert placed.json()["provider_call_id"] is None

    result = invoke(["effects", "worker", "--until-idle"])

    assert result.exit_code == 0, result.output
    assert "events handled" in result.output
    call = (await client.get(f"/v1/calls/{placed.json()['id']}", headers=tenant.headers)).json()
    assert call["provider_call_id"] is not None
    assert call["status"] == "queued"  # dialed; the simulator reports the next steps
