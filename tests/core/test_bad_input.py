"""Every bad input tried returns problem+json and changes nothing.

One organization is built per stack (module scope) and every case is sent to it:
each case compares what the organization holds after its one bad request with what
it held before (the previous case's snapshot), so a bad request that slipped
through and wrote something fails its own case.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commbase.app import create_app
from commbase.identity.roles import Role
from tests.conftest import client_for, make_settings, module_stack
from tests.identity.factories import PASSWORD, Tenant, add_member, auth, create_key, make_tenant

LIMIT = 2048  # max_body_bytes of the app under test
PROBLEM = "application/problem+json"
ROOMY = {"limit": 1_000_000, "window_s": 60}  # rate limits out of the way
# Counters that reads themselves may move; everything else must stay put.
VOLATILE = {"last_used_at", "first_used_at", "total_requests", "last_activity_at", "last_seen_at"}
SNAPSHOT = (
    "/v1/me",
    "/v1/organizations/current",
    "/v1/api-keys",
    "/v1/users",
    "/v1/members",
    "/v1/agent-sessions",
    "/v1/audit-log?limit=100",
    "/v1/analytics/alerts",
    "/v1/analytics/metrics",
    "/v1/analytics/snapshots",
    "/v1/bookings",
    "/v1/support/sla-targets",
    "/v1/leads",
    "/v1/webinars",
    "/v1/favorites",
    "/v1/suggestions",
    "/v1/personalizations",
    "/v1/publishable-keys",
    "/v1/support/tickets",
    "/v1/support/consultations",
    "/v1/careers/positions",
    "/v1/careers/applications",
    "/v1/channel-accounts",
    "/v1/conversations",
    "/v1/messaging/opt-outs",
    "/v1/campaigns",
    "/v1/billing/plans",
    "/v1/billing/coupons",
    "/v1/billing/customers",
    "/v1/billing/subscriptions",
    "/v1/billing/invoices",
    "/v1/phone-numbers",
    "/v1/video/rooms",
)


@dataclass
class World:
    client: httpx.AsyncClient
    tenant: Tenant
    ids: dict[str, str]  # path placeholder -> a real id of the organization
    login_token: str
    problem_codes: set[str] = field(default_factory=set)
    state: dict[str, Any] | None = None  # the last snapshot taken


@dataclass(frozen=True)
class Raw:
    """A body sent as bytes, exactly."""

    content: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Streamed:
    """A body of ``size`` bytes sent in chunks without a Content-Length."""

    size: int


NO_BODY = object()


@dataclass(frozen=True)
class Bad:
    method: str
    path: str  # may hold {user_id}, {member_id}, {key_id}, {agent_session_id}, {session_id}
    body: Any = NO_BODY  # a JSON value, Raw, Streamed or NO_BODY
    status: int | tuple[int, ...] = 422
    field: str | None = None  # for 422: a field errors[] must name
    headers: tuple[tuple[str, str], ...] = ()
    anonymous: bool = False


@pytest.fixture(scope="module")
async def world(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "bad-input")
    settings = make_settings(
        database_url,
        redis_url,
        max_body_bytes=LIMIT,
        rate_limit_tiers={"standard": ROOMY, "free": ROOMY, "premium": ROOMY},
        session_rate_limit=ROOMY["limit"],
        anonymous_rate_limit=ROOMY["limit"],
    )
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as client:
        tenant = await make_tenant(app)
        member_user, _ = await add_member(app, tenant, role=Role.AGENT)
        members = (await client.get("/v1/members", headers=tenant.headers)).json()["data"]
        key = await create_key(client, tenant.api_key, name="target key")
        agent = await client.post(
            "/v1/agent-sessions",
            json={"agent_context": {"agent_id": "bot"}},
            headers=tenant.headers,
        )
        assert agent.status_code == 201, agent.text
        login = await client.post(
            "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        channel = await client.post(
            "/v1/channel-accounts", json={"kind": "sms", "name": "Line"}, headers=tenant.headers
        )
        contact = await client.post(
            "/v1/contacts", json={"name": "Chat", "phone": "+14155550111"}, headers=tenant.headers
        )
        conversation = await client.post(
            "/v1/conversations",
            json={"account_id": channel.json()["id"], "contact_id": contact.json()["id"]},
            headers=tenant.headers,
        )
        assert conversation.status_code == 201, conversation.text
        campaign = await client.post(
            "/v1/campaigns",
            json={**CAMPAIGN, "account_id": channel.json()["id"]},
            headers=tenant.headers,
        )
        assert campaign.status_code == 201, campaign.text
        number = await client.post(
            "/v1/phone-numbers", json={"number": "+14155550170"}, headers=tenant.headers
        )
        assert number.status_code == 201, number.text
        wallet = await client.post("/v1/wallets", json={}, headers=tenant.headers)
        topup = await client.post(
            f"/v1/wallets/{wallet.json()['id']}/topups",
            json={"amount": 1000},
            headers=tenant.headers,
        )
        assert topup.status_code == 201, topup.text
        room = await client.post("/v1/video/rooms", json={}, headers=tenant.headers)
        assert room.status_code == 201, room.text
        problems = (await client.get("/problems")).json()["data"]
        yield World(
            client=client,
            tenant=tenant,
            ids={
                "user_id": member_user,
                "member_id": next(m["id"] for m in members if m["user"]["id"] == member_user),
                "key_id": str(key["id"]),
                "agent_session_id": agent.json()["id"],
                "session_id": login.json()["session"]["id"],
                "account_id": channel.json()["id"],
                "conversation_id": conversation.json()["id"],
                "campaign_id": campaign.json()["id"],
                "number_id": number.json()["id"],
                "room_id": room.json()["id"],
            },
            login_token=login.json()["token"],
            problem_codes={p["code"] for p in problems},
        )


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


async def snapshot(world: World) -> dict[str, Any]:
    """What the organization holds, as its owner reads it."""
    state: dict[str, Any] = {}
    reads = [(path, world.tenant.headers) for path in SNAPSHOT]
    reads.append(("/v1/sessions", auth(world.login_token)))
    for path, headers in reads:
        response = await world.client.get(path, headers=headers)
        assert response.status_code == 200, f"GET {path}: {response.text}"
        state[path] = _strip(response.json())
    return state


async def _chunks(size: int) -> AsyncIterator[bytes]:
    yield b'{"name": "'
    for _ in range(size // 512):
        yield b"x" * 512
    yield b'"}'


async def send(world: World, case: Bad) -> httpx.Response:
    path = case.path.format(**world.ids)
    headers = {} if case.anonymous else dict(world.tenant.headers)
    headers.update(case.headers)
    kwargs: dict[str, Any] = {}
    if isinstance(case.body, Raw):
        kwargs["content"] = case.body.content
        if case.body.content_type:
            headers["Content-Type"] = case.body.content_type
    elif isinstance(case.body, Streamed):
        kwargs["content"] = _chunks(case.body.size)
        headers["Content-Type"] = "application/json"
    elif case.body is not NO_BODY:
        kwargs["content"] = json.dumps(case.body).encode()
        headers["Content-Type"] = "application/json"
    return await world.client.request(case.method, path, headers=headers, **kwargs)


# ------------------------------------------------------------------------ cases

CAMPAIGN = {
    "name": "Spring sale",
    "template_name": "spring_sale",
    "audience": {"kind": "labels", "labels": ["vip"]},
}
# Each write route with a body that validates: the cases below spoil one thing.
WRITES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/api-keys"): {"name": "spare key"},
    ("PATCH", "/v1/api-keys/{key_id}"): {"name": "renamed"},
    ("POST", "/v1/api-keys/{key_id}/rotate"): {"grace_period_s": 60},
    ("POST", "/v1/users"): {"email": "someone.new@example.com"},
    ("PATCH", "/v1/users/{user_id}"): {"first_name": "Renamed"},
    ("PATCH", "/v1/members/{member_id}"): {"role": "viewer"},
    ("PATCH", "/v1/me"): {"first_name": "Renamed"},
    ("POST", "/v1/me/password"): {"current_password": PASSWORD, "new_password": "a new password"},
    ("PATCH", "/v1/organizations/current"): {"name": "Renamed Inc"},
    ("POST", "/v1/agent-sessions"): {"agent_context": {"agent_id": "another-bot"}},
    ("POST", "/v1/auth/login"): {"email": "someone@example.com", "password": "whatever"},
    ("POST", "/v1/track/pageview"): {"url": "https://shop.example/"},
    ("POST", "/v1/track/lab"): {"experiment_type": "neural-art"},
    ("POST", "/v1/analytics/alerts"): {
        "name": "failures",
        "metric": "calls.failure_rate",
        "comparator": "gt",
        "threshold": 10,
    },
    ("POST", "/v1/analytics/metrics"): {"name": "spare_metric", "event_type": "order.paid"},
    ("POST", "/v1/analytics/snapshots"): {"type": "daily"},
    ("POST", "/v1/publishable-keys"): {
        "name": "forms",
        "scopes": ["intake:support"],
        "allowed_origins": ["https://shop.example"],
    },
    ("POST", "/v1/support/tickets"): {"subject": "s", "description": "d"},
    ("POST", "/v1/support/consultations"): {"type": "training"},
    ("POST", "/v1/careers/positions"): {"title": "Engineer"},
    ("POST", "/v1/channel-accounts"): {"kind": "sms", "name": "Spare line"},
    ("PATCH", "/v1/channel-accounts/{account_id}"): {"name": "Renamed line"},
    ("PATCH", "/v1/conversations/{conversation_id}"): {"priority": "high"},
    ("POST", "/v1/conversations/{conversation_id}/labels"): {"add": ["vip"]},
    ("POST", "/v1/conversations/{conversation_id}/notes"): {"body": "A note"},
    ("POST", "/v1/conversations/{conversation_id}/messages"): {"body": "Hello"},
    ("POST", "/v1/messages/inbound?account_id={account_id}"): {
        "from_phone": "+14155550112",
        "body": "Hi there",
    },
    ("POST", "/v1/campaigns"): {**CAMPAIGN, "account_id": "chan_none"},
    ("POST", "/v1/campaigns/{campaign_id}/schedule"): {"scheduled_at": "2031-01-01T10:00:00Z"},
    ("POST", "/v1/phone-numbers"): {"number": "+14155550171"},
    ("PATCH", "/v1/phone-numbers/{number_id}"): {"friendly_name": "Front desk"},
    ("POST", "/v1/phone-numbers/{number_id}/simulate-inbound"): {"from": "+14155550172"},
    ("POST", "/v1/video/rooms"): {"title": "Help"},
    ("POST", "/v1/video/guest/join"): {"token": "cb_vgl_x.y"},
    ("POST", "/v1/video/rooms/{room_id}/quality"): {"mos": 4.0},
    ("POST", "/v1/video/rooms/{room_id}/wrap-up"): {"problem_solved": True, "outcome": "ok"},
}
OPTIONAL_BODY = {("POST", "/v1/api-keys/{key_id}/rotate")}  # no body (or null) means defaults


BOUNDARY = "commbase-boundary"
MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'
).encode()


def _case(method: str, path: str, body: Any = NO_BODY, **options: Any) -> Bad:
    anonymous = path == "/v1/auth/login"
    return Bad(method, path, body, anonymous=anonymous, **options)


def _shape_cases() -> list[Any]:
    """Bodies of the wrong shape or size, tried on every write route."""
    cases = []
    for (method, path), valid in WRITES.items():
        name = f"{method} {path}"
        shapes: list[tuple[str, Any, int | tuple[int, ...], str | None]] = [
            ("not JSON", Raw(b'{"name": oops'), 400, None),
            ("truncated JSON", Raw(json.dumps(valid).encode()[:-1]), 400, None),
            ("invalid UTF-8", Raw(b'{"name": "\xff\xfe"}'), 400, None),
            ("array", [valid], 422, None),
            ("string", "text", 422, None),
            ("number", 42, 422, None),
            ("unknown field", {**valid, "is_admin": True}, 422, "is_admin"),
            ("JSON as text/plain", Raw(json.dumps(valid).encode(), "text/plain"), 415, None),
            ("form encoded", Raw(b"name=x", "application/x-www-form-urlencoded"), 415, None),
            ("multipart", Raw(MULTIPART, f"multipart/form-data; boundary={BOUNDARY}"), 415, None),
            ("JSON without a Content-Type", Raw(json.dumps(valid).encode(), ""), 415, None),
            ("too large", {**valid, "pad": "x" * LIMIT}, 413, None),
            ("too large, streamed", Streamed(LIMIT * 2), 413, None),
        ]
        if (method, path) not in OPTIONAL_BODY:
            shapes += [("no body", NO_BODY, 422, None), ("null", None, 422, None)]
        cases += [
            pytest.param(_case(method, path, body, status=status, field=fld), id=f"{name} {label}")
            for label, body, status, fld in shapes
        ]
    return cases


KEYS, KEY, ROTATE = "/v1/api-keys", "/v1/api-keys/{key_id}", "/v1/api-keys/{key_id}/rotate"
USERS, USER, MEMBER = "/v1/users", "/v1/users/{user_id}", "/v1/members/{member_id}"
ME, PASSWORD_PATH, ORG = "/v1/me", "/v1/me/password", "/v1/organizations/current"
AGENTS, LOGIN = "/v1/agent-sessions", "/v1/auth/login"

K = {"name": "k"}  # a valid API key body
U = {"email": "a@example.com"}  # a valid new user
A = {"agent_context": {"agent_id": "b"}}  # a valid agent session
L = {"email": "a@example.com", "password": "whatever"}  # a valid login form
P = {"current_password": PASSWORD}

# (route) -> [(what is wrong, body, the field errors[] must name)]
FIELD_PROBLEMS: dict[tuple[str, str], list[tuple[str, Any, str]]] = {
    ("POST", KEYS): [
        ("missing name", {}, "name"),
        ("name not a string", {"name": 123}, "name"),
        ("empty name", {"name": ""}, "name"),
        ("blank name", {"name": "   "}, "name"),
        ("name too long", {"name": "k" * 101}, "name"),
        ("name with NUL", {"name": "a\x00b"}, "name"),
        ("description too long", {**K, "description": "d" * 501}, "description"),
        ("unknown environment", {**K, "environment": "prod"}, "environment"),
        ("unknown scope", {**K, "scopes": ["everything"]}, "scopes.0"),
        ("scopes not a list", {**K, "scopes": "calls:read"}, "scopes"),
        ("bad CIDR", {**K, "allowed_ips": ["10.0.0.300/8"]}, "allowed_ips.0"),
        ("not an IP", {**K, "allowed_ips": ["localhost"]}, "allowed_ips.0"),
        ("unknown tier", {**K, "rate_limit_tier": "platinum"}, "rate_limit_tier"),
        ("negative calls", {**K, "max_concurrent_calls": -1}, "max_concurrent_calls"),
        ("zero calls", {**K, "max_concurrent_calls": 0}, "max_concurrent_calls"),
        ("too many calls", {**K, "max_concurrent_calls": 10_001}, "max_concurrent_calls"),
        ("fractional calls", {**K, "max_concurrent_calls": 1.5}, "max_concurrent_calls"),
        ("calls as words", {**K, "max_concurrent_calls": "lots"}, "max_concurrent_calls"),
        ("expiry in the past", {**K, "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ("expiry without zone", {**K, "expires_at": "2999-01-01T00:00:00"}, "expires_at"),
        ("expiry after 9999", {**K, "expires_at": "9999-12-31T23:00:00-14:00"}, "expires_at"),
        ("expiry not a date", {**K, "expires_at": "tomorrow"}, "expires_at"),
    ],
    ("PATCH", KEY): [
        ("empty name", {"name": ""}, "name"),
        ("bad CIDR", {"allowed_ips": ["300.1.1.1"]}, "allowed_ips.0"),
        ("unknown tier", {"rate_limit_tier": "platinum"}, "rate_limit_tier"),
        ("zero calls", {"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ("scopes are fixed", {"scopes": ["calls:read"]}, "scopes"),
        ("status is not editable", {"status": "active"}, "status"),
    ],
    ("POST", ROTATE): [
        ("negative grace", {"grace_period_s": -1}, "grace_period_s"),
        ("grace over a week", {"grace_period_s": 7 * 86_400 + 1}, "grace_period_s"),
        ("grace as words", {"grace_period_s": "soon"}, "grace_period_s"),
    ],
    ("POST", USERS): [
        ("missing email", {"first_name": "Ann"}, "email"),
        ("invalid email", {"email": "not-an-email"}, "email"),
        ("email not a string", {"email": ["a@example.com"]}, "email"),
        ("email with NUL", {"email": "a\x00b@example.com"}, "email"),
        ("unknown role", {**U, "role": "superuser"}, "role"),
        ("short password", {**U, "password": "short"}, "password"),
        ("invalid phone", {**U, "phone": "12345"}, "phone"),
        ("first name too long", {**U, "first_name": "n" * 101}, "first_name"),
        (
            "unknown time zone",
            {**U, "preferences": {"timezone": "Mars/Olympus"}},
            "preferences.timezone",
        ),
        ("lower-case currency", {**U, "preferences": {"currency": "usd"}}, "preferences.currency"),
        (
            "negative threshold",
            {**U, "preferences": {"auto_recharge_threshold": -5}},
            "preferences.auto_recharge_threshold",
        ),
        ("unknown tone", {**U, "ai_settings": {"tone": "angry"}}, "ai_settings.tone"),
        (
            "unknown weekday",
            {**U, "ai_settings": {"working_hours": {"funday": "9-17"}}},
            "ai_settings.working_hours.funday.[key]",
        ),
        (
            "bad working hours",
            {**U, "ai_settings": {"working_hours": {"monday": "9am-5pm"}}},
            "ai_settings.working_hours.monday",
        ),
    ],
    ("PATCH", USER): [
        ("unknown status", {"status": "banned"}, "status"),
        ("status deleted", {"status": "deleted"}, "status"),
        ("null status", {"status": None}, "status"),
        ("null first name", {"first_name": None}, "first_name"),
        ("email is not editable", {"email": "new@example.com"}, "email"),
        ("invalid phone", {"phone": "not a phone"}, "phone"),
        ("preferences not an object", {"preferences": []}, "preferences"),
        (
            "negative message limit",
            {"ai_settings": {"daily_message_limit": -1}},
            "ai_settings.daily_message_limit",
        ),
    ],
    ("PATCH", MEMBER): [
        ("missing role", {}, "role"),
        ("unknown role", {"role": "king"}, "role"),
        ("null role", {"role": None}, "role"),
        ("role not a string", {"role": 1}, "role"),
    ],
    ("PATCH", ME): [
        ("first name too long", {"first_name": "n" * 101}, "first_name"),
        ("null last name", {"last_name": None}, "last_name"),
        ("first name with NUL", {"first_name": "a\x00b"}, "first_name"),
        ("invalid phone", {"phone": "+999"}, "phone"),
        (
            "unknown time zone",
            {"preferences": {"timezone": "Nowhere/City"}},
            "preferences.timezone",
        ),
        (
            "caller id not a phone",
            {"preferences": {"default_caller_id": "123"}},
            "preferences.default_caller_id",
        ),
        (
            "notification not a bool",
            {"preferences": {"notifications": {"email": "yes please"}}},
            "preferences.notifications.email",
        ),
        (
            "unknown voice",
            {"ai_settings": {"voice_preference": "robot"}},
            "ai_settings.voice_preference",
        ),
        (
            "zero call duration",
            {"ai_settings": {"max_call_duration": 0}},
            "ai_settings.max_call_duration",
        ),
        ("own status", {"status": "suspended"}, "status"),
    ],
    ("POST", PASSWORD_PATH): [
        ("missing both", {}, "current_password"),
        ("missing new", P, "new_password"),
        ("short new", {**P, "new_password": "short"}, "new_password"),
        ("long new", {**P, "new_password": "p" * 257}, "new_password"),
        (
            "current not a string",
            {"current_password": 1, "new_password": "a new password"},
            "current_password",
        ),
    ],
    ("PATCH", ORG): [
        ("empty name", {"name": ""}, "name"),
        ("name too long", {"name": "n" * 201}, "name"),
        ("null name", {"name": None}, "name"),
        ("null time zone", {"timezone": None}, "timezone"),
        ("null settings", {"settings": None}, "settings"),
        ("unknown time zone", {"timezone": "Mars/Olympus"}, "timezone"),
        ("time zone not a string", {"timezone": 5}, "timezone"),
        ("lower-case currency", {"currency": "usd"}, "currency"),
        ("four-letter currency", {"currency": "EURO"}, "currency"),
        ("language name", {"language": "english"}, "language"),
        ("invalid email", {"email": "nope"}, "email"),
        ("invalid phone", {"phone": "0000"}, "phone"),
        ("website not a URL", {"website": "not a url"}, "website"),
        ("website not http", {"website": "javascript:alert(1)"}, "website"),
        ("country not ISO", {"address": {"country": "usa"}}, "address.country"),
        ("postal code too long", {"address": {"postal_code": "9" * 21}}, "address.postal_code"),
        ("colour by name", {"branding": {"primary_color": "red"}}, "branding.primary_color"),
        (
            "colour not hex",
            {"branding": {"secondary_color": "#12345g"}},
            "branding.secondary_color",
        ),
        ("logo not a URL", {"branding": {"logo_url": "logo.png"}}, "branding.logo_url"),
        ("settings not an object", {"settings": ["a"]}, "settings"),
        ("too many settings", {"settings": {f"k{i}": i for i in range(101)}}, "settings"),
        ("NUL in settings", {"settings": {"note": "a\x00b"}}, "settings"),
        ("NUL in a settings key", {"settings": {"a\x00": 1}}, "settings"),
        ("lone surrogate in settings", Raw(b'{"settings": {"note": "\\ud800"}}'), "settings"),
        ("NaN in settings", Raw(b'{"settings": {"ratio": NaN}}'), "settings"),
        ("Infinity in settings", Raw(b'{"settings": {"ratio": -Infinity}}'), "settings"),
        (
            "onboarding step not a bool",
            {"onboarding": {"steps": {"profile": "maybe"}}},
            "onboarding.steps.profile",
        ),
        ("slug is not editable", {"slug": "elsewhere"}, "slug"),
        ("status is not editable", {"status": "suspended"}, "status"),
    ],
    ("POST", AGENTS): [
        ("missing agent context", {}, "agent_context"),
        ("missing agent id", {"agent_context": {}}, "agent_context.agent_id"),
        ("agent context not an object", {"agent_context": "bot"}, "agent_context"),
        (
            "agent id too long",
            {"agent_context": {"agent_id": "a" * 101}},
            "agent_context.agent_id",
        ),
        ("agent id NUL", {"agent_context": {"agent_id": "\x00"}}, "agent_context.agent_id"),
        (
            "too many capabilities",
            {"agent_context": {"agent_id": "b", "capabilities": ["c"] * 51}},
            "agent_context.capabilities",
        ),
        ("unknown session type", {**A, "session_type": "robot"}, "session_type"),
        ("negative lifetime", {**A, "expires_in_s": -60}, "expires_in_s"),
        ("lifetime under a minute", {**A, "expires_in_s": 59}, "expires_in_s"),
        ("lifetime over 30 days", {**A, "expires_in_s": 30 * 86_400 + 1}, "expires_in_s"),
        (
            "negative spend limit",
            {**A, "user_consent": {"max_spend_limit": -1}},
            "user_consent.max_spend_limit",
        ),
        (
            "unknown retention",
            {**A, "user_consent": {"data_retention": "forever"}},
            "user_consent.data_retention",
        ),
        (
            "zero calls per hour",
            {**A, "rate_limits": {"calls_per_hour": 0}},
            "rate_limits.calls_per_hour",
        ),
        ("user id too long", {**A, "user_id": "u" * 41}, "user_id"),
        ("scopes are not chosen", {**A, "scopes": ["calls:read"]}, "scopes"),
    ],
    ("POST", LOGIN): [
        ("missing password", {"email": "a@example.com"}, "password"),
        ("missing email", {"password": "whatever"}, "email"),
        ("email too short", {**L, "email": "ab"}, "email"),
        ("email too long", {**L, "email": "e" * 321}, "email"),
        ("empty password", {**L, "password": ""}, "password"),
        ("password too long", {**L, "password": "p" * 257}, "password"),
        ("email with NUL", {**L, "email": "a\x00@example.com"}, "email"),
        ("organization too long", {**L, "organization": "o" * 81}, "organization"),
    ],
}
FIELD_PROBLEMS[("POST", "/v1/track/pageview")] = [
    ("missing url", {"title": "Home"}, "url"),
    ("empty url", {"url": ""}, "url"),
    ("title with NUL", {"url": "https://a.example/", "title": "a\x00"}, "title"),
    (
        "timestamp without zone",
        {"url": "https://a", "timestamp": "2026-01-01T00:00:00"},
        "timestamp",
    ),
    ("utm not a string", {"url": "https://a.example/", "utm_source": 5}, "utm_source"),
]
FIELD_PROBLEMS[("POST", "/v1/track/lab")] = [
    ("missing type", {}, "experiment_type"),
    ("type with spaces", {"experiment_type": "neural art"}, "experiment_type"),
    ("unknown status", {"experiment_type": "x", "status": "exploded"}, "status"),
    ("negative tokens", {"experiment_type": "x", "tokens_used": -1}, "tokens_used"),
    ("input not an object", {"experiment_type": "x", "input": [1]}, "input"),
]
FIELD_PROBLEMS[("POST", "/v1/analytics/metrics")] = [
    ("name with capitals", {"name": "Paid", "event_type": "a"}, "name"),
    ("name too long", {"name": "m" * 81, "event_type": "a"}, "name"),
    ("unknown aggregate", {"name": "m", "event_type": "a", "aggregate": "median"}, "aggregate"),
    ("field outside data", {"name": "m", "event_type": "a", "field": "password"}, "field"),
    ("field path too deep", {"name": "m", "event_type": "a", "field": "data.a.b.c.d.e.f"}, "field"),
    (
        "unknown filter op",
        {"name": "m", "event_type": "a", "filters": [{"field": "data.x", "op": "like"}]},
        "filters.0.op",
    ),
    ("event type with spaces", {"name": "m", "event_type": "order paid"}, "event_type"),
    (
        "dimension outside data",
        {"name": "m", "event_type": "a", "dimensions": ["pw"]},
        "dimensions.0",
    ),
    (
        "too many filters",
        {"name": "m", "event_type": "a", "filters": [{"field": "type"}] * 11},
        "filters",
    ),
]
FIELD_PROBLEMS[("POST", "/v1/analytics/snapshots")] = [
    ("unknown type", {"type": "fortnightly"}, "type"),
    ("not a date", {"type": "daily", "date": "yesterday"}, "date"),
    ("hour 24", {"type": "hourly", "date": "2026-01-01", "hour": 24}, "hour"),
    ("empty account", {"type": "daily", "account_id": ""}, "account_id"),
]
ALERT = {"name": "a", "metric": "calls.failure_rate", "comparator": "gt", "threshold": 10}
FIELD_PROBLEMS[("POST", "/v1/analytics/alerts")] = [
    ("missing metric", {k: v for k, v in ALERT.items() if k != "metric"}, "metric"),
    ("unknown metric", {**ALERT, "metric": "calls.nothing"}, "metric"),
    ("unknown custom metric", {**ALERT, "metric": "custom.nothing"}, "metric"),
    ("unknown comparator", {**ALERT, "comparator": "eq"}, "comparator"),
    ("threshold as text", {**ALERT, "threshold": "10"}, "threshold"),
    (
        "NaN threshold",
        Raw(b'{"name": "a", "metric": "calls.total", "comparator": "gt", "threshold": NaN}'),
        "threshold",
    ),
    ("empty window", {**ALERT, "window_minutes": 0}, "window_minutes"),
    ("window over a week", {**ALERT, "window_minutes": 10_081}, "window_minutes"),
    ("negative cooldown", {**ALERT, "cooldown_minutes": -1}, "cooldown_minutes"),
    ("negative min count", {**ALERT, "min_count": -1}, "min_count"),
    ("name too long", {**ALERT, "name": "n" * 201}, "name"),
    ("unknown dimension", {**ALERT, "dimension": "planet", "dimension_value": "x"}, "dimension"),
    ("dimension without value", {**ALERT, "dimension": "country"}, "dimension_value"),
    ("account on calls", {**ALERT, "account_id": "acct_1"}, "account_id"),
]
PUB = {"name": "forms", "scopes": ["intake:support"], "allowed_origins": ["https://a.example"]}
FIELD_PROBLEMS[("POST", "/v1/publishable-keys")] = [
    (
        "missing origins",
        {k: v for k, v in PUB.items() if k != "allowed_origins"},
        "allowed_origins",
    ),
    ("no origins", {**PUB, "allowed_origins": []}, "allowed_origins"),
    (
        "origin with a path",
        {**PUB, "allowed_origins": ["https://a.example/x"]},
        "allowed_origins.0",
    ),
    ("origin wildcard", {**PUB, "allowed_origins": ["*"]}, "allowed_origins.0"),
    ("origin not http", {**PUB, "allowed_origins": ["ftp://a.example"]}, "allowed_origins.0"),
    (
        "origin port out of range",
        {**PUB, "allowed_origins": ["https://a:99999"]},
        "allowed_origins.0",
    ),
    ("API scope", {**PUB, "scopes": ["calls:read"]}, "scopes.0"),
    ("no scopes", {**PUB, "scopes": []}, "scopes"),
    ("zero rate", {**PUB, "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
    ("rate as words", {**PUB, "rate_limit_per_minute": "many"}, "rate_limit_per_minute"),
]
TICKET = {"subject": "s", "description": "d"}
FIELD_PROBLEMS[("POST", "/v1/support/tickets")] = [
    ("missing subject", {"description": "d"}, "subject"),
    ("empty description", {**TICKET, "description": ""}, "description"),
    ("subject too long", {**TICKET, "subject": "s" * 201}, "subject"),
    ("description with NUL", {**TICKET, "description": "a\x00"}, "description"),
    ("unknown category", {**TICKET, "category": "gossip"}, "category"),
    ("unknown priority", {**TICKET, "priority": "critical"}, "priority"),
    ("invalid email", {**TICKET, "requester_email": "nope"}, "requester_email"),
    ("assignee id too long", {**TICKET, "assignee_id": "u" * 41}, "assignee_id"),
    ("status is not chosen", {**TICKET, "status": "closed"}, "status"),
    ("number is not chosen", {**TICKET, "number": 7}, "number"),
]
CONS = {"type": "training"}
FIELD_PROBLEMS[("POST", "/v1/support/consultations")] = [
    ("missing type", {}, "type"),
    ("unknown type", {"type": "therapy"}, "type"),
    ("invalid phone", {**CONS, "requester_phone": "123"}, "requester_phone"),
    ("invalid email", {**CONS, "requester_email": "x@"}, "requester_email"),
    ("unknown company size", {**CONS, "company_size": "huge"}, "company_size"),
    ("status is not chosen", {**CONS, "status": "completed"}, "status"),
    ("budget too long", {**CONS, "budget_range": "b" * 51}, "budget_range"),
]
FIELD_PROBLEMS[("POST", "/v1/careers/positions")] = [
    ("missing title", {}, "title"),
    ("unknown employment type", {"title": "t", "employment_type": "gig"}, "employment_type"),
    ("remote as words", {"title": "t", "remote": "sometimes"}, "remote"),
    ("status is not chosen", {"title": "t", "status": "closed"}, "status"),
]
JOB = {"position_id": "pos_1", "first_name": "A", "last_name": "B", "email": "a@b.example"}
FIELD_PROBLEMS[("POST", "/v1/careers/applications")] = [
    ("missing email", {k: v for k, v in JOB.items() if k != "email"}, "email"),
    ("invalid email", {**JOB, "email": "nope"}, "email"),
    ("invalid phone", {**JOB, "phone": "12"}, "phone"),
    ("linkedin not a URL", {**JOB, "linkedin_url": "linkedin.com/in/a"}, "linkedin_url"),
    ("stage is not chosen", {**JOB, "stage": "hired"}, "stage"),
    ("position id too long", {**JOB, "position_id": "p" * 41}, "position_id"),
]
CHANNEL = {"kind": "whatsapp", "name": "Line"}
FIELD_PROBLEMS[("POST", "/v1/channel-accounts")] = [
    ("unknown kind", {**CHANNEL, "kind": "pager"}, "kind"),
    ("unknown provider", {**CHANNEL, "provider": "carrier-pigeon"}, "provider"),
    ("whatsapp without credentials", {**CHANNEL, "provider": "whatsapp"}, ""),
    ("phone number id not digits", {**CHANNEL, "phone_number_id": "12a"}, "phone_number_id"),
    (
        "hours of an unknown day",
        {**CHANNEL, "business_hours": {"funday": []}},
        "business_hours.funday.[key]",
    ),
    (
        "hours not a clock",
        {**CHANNEL, "business_hours": {"monday": [["9am", "17:00"]]}},
        "business_hours.monday.0.0",
    ),
    (
        "hours ending before they start",
        {**CHANNEL, "business_hours": {"monday": [["17:00", "09:00"]]}},
        "business_hours",
    ),
    ("zero send rate", {**CHANNEL, "send_rate_per_minute": 0}, "send_rate_per_minute"),
    ("short app secret", {**CHANNEL, "app_secret": "short"}, "app_secret"),
]
MESSAGE = "/v1/conversations/{conversation_id}/messages"
MEDIA_HTTP = {"content_type": "media", "media_url": "http://a.example/x.png"}
FIELD_PROBLEMS[("POST", MESSAGE)] = [
    ("text without a body", {"content_type": "text"}, ""),
    ("written as the contact", {"body": "hi", "author_role": "user"}, ""),
    ("template without a name", {"content_type": "template"}, ""),
    ("media over http", MEDIA_HTTP, "media_url"),
    ("unknown content type", {"content_type": "hologram", "body": "x"}, "content_type"),
    ("reply id too long", {"body": "x", "reply_to_message_id": "m" * 41}, "reply_to_message_id"),
    ("reply to a stranger", {"body": "x", "reply_to_message_id": "msg_x"}, "reply_to_message_id"),
]
FIELD_PROBLEMS[("PATCH", "/v1/conversations/{conversation_id}")] = [
    ("lead score over 100", {"lead_score": 101}, "lead_score"),
    ("probability over 1", {"conversion_probability": 1.5}, "conversion_probability"),
    ("amount without currency", {"sale_amount": 100}, ""),
    ("unknown currency", {"sale_amount": 1, "sale_currency": "ZZZ"}, "sale_currency"),
    ("rating before resolution", {"satisfaction_rating": 5}, "satisfaction_rating"),
    ("rating of 6", {"satisfaction_rating": 6}, "satisfaction_rating"),
    ("null priority", {"priority": None}, "priority"),
    ("unknown outcome", {"outcome": "won"}, "outcome"),
]
PAST = "2020-01-01T00:00:00Z"
FIELD_PROBLEMS[("POST", "/v1/conversations/{conversation_id}/status")] = [
    ("unknown status", {"status": "closed"}, "status"),
    ("snoozed without a time", {"status": "snoozed"}, ""),
    ("snoozed into the past", {"status": "snoozed", "snoozed_until": PAST}, "snoozed_until"),
    ("naive snooze", {"status": "snoozed", "snoozed_until": "2030-01-01"}, "snoozed_until"),
]
FIELD_PROBLEMS[("POST", "/v1/conversations/{conversation_id}/assign")] = [
    ("a stranger", {"user_id": "usr_nobody"}, "user_id"),
    ("both kinds", {"user_id": "usr_x", "agent_session_id": "ags_x"}, ""),
]
FIELD_PROBLEMS[("POST", "/v1/conversations")] = [
    ("unknown account", {"account_id": "chan_none", "contact_id": "cnt_none"}, "account_id"),
    ("missing contact", {"account_id": "chan_none"}, "contact_id"),
]
CAMPAIGN_AT = {**CAMPAIGN, "account_id": "chan_none"}
FIELD_PROBLEMS[("POST", "/v1/campaigns")] = [
    ("unknown account", CAMPAIGN_AT, "account_id"),
    ("no labels", {**CAMPAIGN_AT, "audience": {"kind": "labels", "labels": []}}, "audience"),
    ("list without ids", {**CAMPAIGN_AT, "audience": {"kind": "contacts"}}, "audience"),
    ("unknown audience", {**CAMPAIGN_AT, "audience": {"kind": "everyone"}}, "audience.kind"),
    ("zero throttle", {**CAMPAIGN_AT, "throttle_per_second": 0}, "throttle_per_second"),
    ("huge throttle", {**CAMPAIGN_AT, "throttle_per_second": 10**6}, "throttle_per_second"),
    ("template with spaces", {**CAMPAIGN_AT, "template_name": "a b"}, "template_name"),
    ("start and a time", {**CAMPAIGN_AT, "start": True, "scheduled_at": PAST}, ""),
    ("naive time", {**CAMPAIGN_AT, "scheduled_at": "2030-01-01T10:00:00"}, "scheduled_at"),
]
FIELD_PROBLEMS[("POST", "/v1/campaigns/{campaign_id}/schedule")] = [
    ("naive time", {"scheduled_at": "2030-01-01T10:00:00"}, "scheduled_at"),
]
INBOUND = {"from_phone": "+14155550113", "body": "Hi"}
FIELD_PROBLEMS[("POST", "/v1/messages/inbound?account_id={account_id}")] = [
    ("no sender", {"body": "Hi"}, ""),
    ("invalid phone", {**INBOUND, "from_phone": "123"}, "from_phone"),
    ("invalid email", {"from_email": "nope", "body": "Hi"}, "from_email"),
    ("naive time", {**INBOUND, "sent_at": "2030-01-01T00:00:00"}, "sent_at"),
    ("empty body", {**INBOUND, "body": ""}, "body"),
]
FIELD_PROBLEMS[("POST", "/v1/messages/inbound?account_id=chan_none")] = [
    ("an account of nobody's", INBOUND, "account_id"),
]
FIELD_PROBLEMS[("POST", "/v1/video/rooms")] = [
    ("unknown mode", {"mode": "p2p"}, "mode"),
    ("long title", {"title": "x" * 201}, "title"),
    ("contact id with spaces", {"contact_id": "cnt 1"}, "contact_id"),
    ("empty customer name", {"customer_name": ""}, "customer_name"),
]
FIELD_PROBLEMS[("POST", "/v1/video/rooms/{room_id}/guest-links")] = [
    ("ttl too short", {"ttl_seconds": 10}, "ttl_seconds"),
    ("ttl too long", {"ttl_seconds": 10**9}, "ttl_seconds"),
]
FIELD_PROBLEMS[("POST", "/v1/video/guest/join")] = [
    ("no token", {"name": "Ada"}, "token"),
    ("empty token", {"token": ""}, "token"),
    ("long name", {"token": "cb_vgl_x.y", "name": "x" * 101}, "name"),
]
FIELD_PROBLEMS[("POST", "/v1/video/rooms/{room_id}/quality")] = [
    ("loss above one", {"packet_loss": 1.5}, "packet_loss"),
    ("negative rtt", {"rtt_ms": -1}, "rtt_ms"),
    ("mos above five", {"mos": 6}, "mos"),
    ("mos as text", {"mos": "good"}, "mos"),
]
FIELD_PROBLEMS[("POST", "/v1/video/rooms/{room_id}/wrap-up")] = [
    ("no outcome", {"problem_solved": True}, "outcome"),
    ("outcome with markup", {"problem_solved": True, "outcome": "<b>"}, "outcome"),
]
FIELD_PROBLEMS[("POST", "/v1/video/rooms/{room_id}/rating")] = [
    ("zero", {"rating": 0}, "rating"),
    ("six", {"rating": 6}, "rating"),
]
FIELD_PROBLEMS[("POST", "/v1/messaging/opt-outs")] = [
    ("unknown contact", {"contact_id": "cnt_none"}, "contact_id"),
]
PLAN = {"code": "basic", "name": "Basic", "amount": 100, "currency": "USD"}
FIELD_PROBLEMS[("POST", "/v1/billing/plans")] = [
    ("missing amount", {k: v for k, v in PLAN.items() if k != "amount"}, "amount"),
    ("negative amount", {**PLAN, "amount": -1}, "amount"),
    ("amount past 64 bits", {**PLAN, "amount": 2**63}, "amount"),
    ("unknown currency", {**PLAN, "currency": "ZZZ"}, "currency"),
    ("weekly interval", {**PLAN, "interval": "week"}, "interval"),
    ("code with a space", {**PLAN, "code": "a b"}, "code"),
    ("negative trial", {**PLAN, "trial_days": -1}, "trial_days"),
    ("unknown pricing", {**PLAN, "pricing": "tiered"}, "pricing"),
]
FIELD_PROBLEMS[("POST", "/v1/billing/coupons")] = [
    ("percent and amount", {"code": "C", "name": "C", "percent_off": 5, "amount_off": 5}, ""),
    ("percent over 100", {"code": "C", "name": "C", "percent_off": 101}, "percent_off"),
    (
        "repeating without months",
        {"code": "C", "name": "C", "percent_off": 5, "duration": "repeating"},
        "",
    ),
    ("amount without currency", {"code": "C", "name": "C", "amount_off": 5}, ""),
]
FIELD_PROBLEMS[("POST", "/v1/billing/subscriptions")] = [
    ("unknown customer", {"customer_id": "cus_none", "plan_id": "plan_none"}, "customer_id"),
    ("zero seats", {"customer_id": "c", "plan_id": "p", "quantity": 0}, "quantity"),
    ("plan id too long", {"customer_id": "c", "plan_id": "p" * 41}, "plan_id"),
]
FIELD_PROBLEMS[("POST", "/v1/billing/invoices")] = [
    ("no lines", {"customer_id": "c", "currency": "USD", "lines": []}, "lines"),
    (
        "negative line",
        {"customer_id": "c", "currency": "USD", "lines": [{"description": "x", "unit_amount": -1}]},
        "lines.0.unit_amount",
    ),
    (
        "unknown customer",
        {
            "customer_id": "cus_x",
            "currency": "USD",
            "lines": [{"description": "x", "unit_amount": 1}],
        },
        "customer_id",
    ),
]
FIELD_PROBLEMS[("POST", "/v1/billing/invoices")].append(
    (
        "a line past 64 bits in total",
        {
            "customer_id": "c",
            "currency": "USD",
            "lines": [{"description": "x", "unit_amount": 10**12, "quantity": 10_001}],
        },
        "lines.0.quantity",
    )
)
FIELD_PROBLEMS[("PUT", "/v1/billing/tax-rates")] = [
    ("percent over 100", {"percent": "101"}, "percent"),
    ("lower-case country", {"country": "fr", "percent": "5"}, "country"),
]
FIELD_PROBLEMS[("POST", "/v1/billing/subscriptions/sub_none/licenses")] = [
    ("user id too long", {"user_id": "u" * 41}, "user_id"),
    ("missing user", {}, "user_id"),
]
FIELD_PROBLEMS[("POST", "/v1/billing/customers")] = [
    ("unknown kind", {"kind": "robot", "reference_id": "x"}, "kind"),
    ("invalid email", {"kind": "contact", "reference_id": "x", "email": "nope"}, "email"),
]
FIELD_PROBLEMS[("POST", "/v1/billing/invoices/inv_none/checkout")] = [
    ("unknown provider", {"provider": "bitcoin"}, "provider"),
    ("manual is not a checkout", {"provider": "manual"}, "provider"),
    ("zero amount", {"provider": "simulator", "amount": 0}, "amount"),
    ("phone with letters", {"provider": "cashfree", "customer_phone": "call me"}, "customer_phone"),
    (
        "return url not http",
        {"provider": "paypal", "return_url": "javascript:alert(1)"},
        "return_url",
    ),
]
FIELD_PROBLEMS[("POST", "/v1/billing/payments/pay_none/refunds")] = [
    ("negative amount", {"amount": -5}, "amount"),
    ("reason too long", {"reason": "r" * 501}, "reason"),
]
FIELD_PROBLEMS[("PUT", "/v1/billing/plans/plan_none/dunning")] = [
    ("retry days not ascending", {"retry_days": [3, 1], "final_action": "cancel"}, "retry_days"),
    ("unknown final action", {"retry_days": [1], "final_action": "explode"}, "final_action"),
    ("retry after 0 days", {"retry_days": [0], "final_action": "pause"}, "retry_days.0"),
    ("no final action", {"retry_days": [1]}, "final_action"),
]
BOOKING = {"service": "Cut", "currency": "CZK", "starts_at": "2031-01-01T10:00:00Z"}
FIELD_PROBLEMS[("POST", "/v1/bookings")] = [
    ("naive start", {**BOOKING, "starts_at": "2031-01-01T10:00:00"}, "starts_at"),
    ("no start", {"service": "Cut", "currency": "CZK"}, ""),
    ("date without time", {"service": "Cut", "currency": "CZK", "date": "2031-01-01"}, ""),
    ("zero minutes", {**BOOKING, "duration_min": 0}, "duration_min"),
    ("negative price", {**BOOKING, "price": -1}, "price"),
    ("price past 64 bits", {**BOOKING, "price": 2**63}, "price"),
    ("unknown currency", {**BOOKING, "currency": "ZZZ"}, "currency"),
    ("created completed", {**BOOKING, "status": "completed"}, ""),
]
SLA = {"priority": "urgent", "first_response_minutes": 10, "resolution_minutes": 60}
FIELD_PROBLEMS[("PUT", "/v1/support/sla-targets")] = [
    ("no targets list", {}, "targets"),
    (
        "zero minutes",
        {"targets": [{**SLA, "first_response_minutes": 0}]},
        "targets.0.first_response_minutes",
    ),
    ("resolution before first reply", {"targets": [{**SLA, "resolution_minutes": 5}]}, "targets.0"),
    ("unknown priority", {"targets": [{**SLA, "priority": "asap"}]}, "targets.0.priority"),
    ("a priority twice", {"targets": [SLA, SLA]}, ""),
    (
        "minutes as words",
        {"targets": [{**SLA, "resolution_minutes": "many"}]},
        "targets.0.resolution_minutes",
    ),
]
FIELD_PROBLEMS[("POST", "/v1/leads")] = [
    ("score over 100", {"score": 101}, "score"),
    ("unknown source", {"source": "pigeon"}, "source"),
    ("deal without currency", {"deal_value": 100}, ""),
    ("naive follow-up", {"follow_up_at": "2031-01-01T10:00:00"}, "follow_up_at"),
]
WEBINAR = {"title": "Intro", "starts_at": "2031-01-01T10:00:00Z"}
FIELD_PROBLEMS[("POST", "/v1/webinars")] = [
    ("zero capacity", {**WEBINAR, "capacity": 0}, "capacity"),
    ("join url not a URL", {**WEBINAR, "join_url": "meet"}, "join_url"),
    ("missing start", {"title": "Intro"}, "starts_at"),
]
FIELD_PROBLEMS[("POST", "/v1/favorites")] = [
    ("unknown type", {"type": "song", "item_id": "x"}, "type"),
    ("item id too long", {"type": "agent", "item_id": "x" * 201}, "item_id"),
]
FIELD_PROBLEMS[("POST", "/v1/suggestions")] = [
    ("unknown category", {"title": "x", "description": "y", "category": "wish"}, "category"),
    ("empty title", {"title": "", "description": "y"}, "title"),
]
FIELD_PROBLEMS[("PUT", "/v1/personalizations")] = [
    ("missing agent", {"display": {}}, "agent_id"),
    ("display not an object", {"agent_id": "a", "display": []}, "display"),
]
NUMBER = {"number": "+14155550173"}
FIELD_PROBLEMS[("POST", "/v1/phone-numbers")] = [
    ("number not a number", {"number": "front desk"}, "number"),
    ("unknown provider", {**NUMBER, "provider": "telnyx"}, "provider"),
    ("unknown capability", {**NUMBER, "capabilities": ["fax"]}, "capabilities.0"),
    ("no capability", {**NUMBER, "capabilities": []}, "capabilities"),
    ("connect without a URL", {**NUMBER, "answer_mode": "connect"}, ""),
    ("connect URL not wss", {**NUMBER, "connect_url": "https://agent.example/ws"}, "connect_url"),
    (
        "member unknown",
        {**NUMBER, "answer_mode": "member", "member_user_id": "usr_x"},
        "member_user_id",
    ),
    ("forward without a number", {**NUMBER, "answer_mode": "forward"}, ""),
    ("after-hours forward to nothing", {**NUMBER, "after_hours_action": "forward"}, ""),
    (
        "negative inbound rate",
        {**NUMBER, "inbound_rate_per_minute": "-1"},
        "inbound_rate_per_minute",
    ),
    ("greeting too long", {**NUMBER, "after_hours_greeting": "x" * 501}, "after_hours_greeting"),
    ("voice with spaces", {**NUMBER, "voice": "a voice"}, "voice"),
]
FIELD_PROBLEMS[("PATCH", "/v1/phone-numbers/{number_id}")] = [
    ("null answer mode", {"answer_mode": None}, "answer_mode"),
    ("connect without a URL", {"answer_mode": "connect"}, "answer_mode"),
    ("forward number not a number", {"forward_to": "reception"}, "forward_to"),
]
FIELD_PROBLEMS[("POST", "/v1/phone-numbers/{number_id}/simulate-inbound")] = [
    ("caller not a number", {"from": "anonymous"}, "from"),
    ("zero duration", {"from": "+14155550174", "duration_s": 0}, "duration_s"),
    ("no caller", {}, "from"),
]
FIELD_CASES = [
    pytest.param(_case(method, path, body, field=fld), id=f"{method} {path} {label}")
    for (method, path), problems in FIELD_PROBLEMS.items()
    for label, body, fld in problems
]

LISTS = ("/v1/api-keys", "/v1/users", "/v1/members", "/v1/agent-sessions", "/v1/audit-log")
QUERY_CASES = [
    *(
        pytest.param(_case("GET", f"{path}?{query}", field=fld), id=f"GET {path}?{query}")
        for path in (*LISTS, "/v1/sessions")
        for query, fld in [
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("limit=1000", "limit"),
            ("limit=abc", "limit"),
            ("limit=1.5", "limit"),
            ("cursor=!!!!", "cursor"),
            ("cursor=not-a-cursor", "cursor"),
            ("cursor=AA", "cursor"),  # decodes to a NUL byte
            ("cursor=" + "A" * 200, "cursor"),
        ]
    ),
    *(
        pytest.param(_case("GET", f"{path}?{query}", field=fld), id=f"GET {path}?{query[:40]}")
        for path, query, fld in [
            ("/v1/api-keys", "status=lost", "status"),
            ("/v1/users", "status=gone", "status"),
            ("/v1/agent-sessions", "status=asleep", "status"),
            ("/v1/members", "role=king", "role"),
            ("/v1/users", "q=" + "q" * 101, "q"),
            ("/v1/audit-log", "action=" + "a" * 61, "action"),
            ("/v1/audit-log", "actor_id=" + "u" * 41, "actor_id"),
            ("/v1/agent-sessions", "agent_id=" + "a" * 101, "agent_id"),
            ("/v1/publishable-keys", "status=lost", "status"),
            ("/v1/support/tickets", "status=lost", "status"),
            ("/v1/support/tickets", "priority=critical", "priority"),
            ("/v1/support/tickets", "category=gossip", "category"),
            ("/v1/support/tickets", "number=0", "number"),
            ("/v1/support/tickets", "number=abc", "number"),
            ("/v1/support/tickets", "number=2147483648", "number"),
            ("/v1/support/tickets", "assignee_id=" + "u" * 41, "assignee_id"),
            ("/v1/support/tickets", "email=" + "e" * 255, "email"),
            ("/v1/support/consultations", "type=therapy", "type"),
            ("/v1/support/consultations", "host_id=" + "u" * 41, "host_id"),
            ("/v1/careers/positions", "status=paused", "status"),
            ("/v1/careers/applications", "stage=dreaming", "stage"),
            ("/v1/careers/applications", "position_id=" + "p" * 41, "position_id"),
            ("/v1/conversations", "status=closed", "status"),
            ("/v1/conversations", "channel=pager", "channel"),
            ("/v1/conversations", "account_id=" + "a" * 41, "account_id"),
            ("/v1/conversations", "limit=0", "limit"),
            ("/v1/conversations", "cursor=AA", "cursor"),
            ("/v1/conversations", "unassigned=perhaps", "unassigned"),
            ("/v1/conversations/search", "q=", "q"),
            ("/v1/conversations/search", "q=%21%21%21", "q"),
            ("/v1/channel-accounts", "kind=pager", "kind"),
            ("/v1/campaigns", "status=done", "status"),
            ("/v1/reports/messaging", "from=2026-01-01&to=2026-02-01T00:00:00Z", "from"),
            (
                "/v1/reports/messaging",
                "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                "to",
            ),
            (
                "/v1/reports/messaging",
                "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                "to",
            ),
            (
                "/v1/reports/messaging",
                "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&group_by=planet",
                "group_by",
            ),
            ("/v1/campaigns", "account_id=" + "a" * 41, "account_id"),
            ("/v1/campaigns/{campaign_id}/recipients", "status=lost", "status"),
            ("/v1/campaigns/{campaign_id}/recipients", "limit=0", "limit"),
            ("/v1/billing/transactions", "limit=1", "user_id"),
            ("/v1/billing/transactions", "user_id=usr_x&type=gift", "type"),
            ("/v1/billing/payments", "status=lost", "status"),
            ("/v1/billing/payments", "invoice_id=" + "i" * 41, "invoice_id"),
            ("/v1/billing/transactions", "user_id=usr_x&status=lost", "status"),
            ("/v1/billing/transactions", "user_id=usr_x&from=2026-01-01T00:00:00", "from"),
            ("/v1/billing/revenue-breakdown", "from=2026-01-01T00:00:00Z", "to"),
            ("/v1/billing/mrr-forecast", "months=0", "months"),
            ("/v1/billing/mrr-forecast", "trailing_months=13", "trailing_months"),
            ("/v1/billing/mrr-forecast.csv", "months=lots", "months"),
            (
                "/v1/billing/revenue-breakdown",
                "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                "to",
            ),
            (
                "/v1/billing/revenue-breakdown",
                "from=1999-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                "from",
            ),
        ]
    ),
    *(
        pytest.param(_case("GET", f"/v1/analytics/{query}", status=422), id=f"GET {query[:50]}")
        for query in [
            "series",
            "series?metrics=calls.total&interval=fortnight",
            "series?metrics=calls.total&from=2026-01-01",
            "series?metrics=calls.total&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "series?metrics=calls.total&tz=Nowhere/Atlantis",
            "series?metrics=calls.total&group_by=shoe_size",
            "series?metrics=calls.total&filter=nocolon",
            "series.csv?metrics=calls.total&interval=minute",
            "dashboard?days=0",
            "realtime?sections=nope",
            "realtime?sections=" + "s" * 501,
            "dashboard?days=abc",
            "patterns?metric=calls.success_rate",
            "geography?limit=1000",
            "snapshots?type=hourlyish",
            "series?metrics=" + ",".join(f"m{i}" for i in range(21)),
        ]
    ),
    *(
        pytest.param(_case("GET", f"{path}?{query}", status=400), id=f"GET {path}?{query}")
        for path, query in [
            ("/v1/users", "q=a%00b"),
            ("/v1/audit-log", "action=%00"),
            ("/v1/agent-sessions", "agent_id=%00"),
        ]
    ),
]

LONG_ID = "x" * 41
ID_ROUTES = [
    ("GET", "/v1/phone-numbers/{id}", "number_id", NO_BODY),
    ("PATCH", "/v1/phone-numbers/{id}", "number_id", {"friendly_name": "x"}),
    ("GET", "/v1/calls/{id}/recording", "call_id", NO_BODY),
    ("GET", "/v1/calls/{id}/recordings", "call_id", NO_BODY),
    ("GET", "/v1/users/{id}", "user_id", NO_BODY),
    ("PATCH", "/v1/users/{id}", "user_id", {"first_name": "Renamed"}),
    ("GET", "/v1/members/{id}", "member_id", NO_BODY),
    ("PATCH", "/v1/members/{id}", "member_id", {"role": "viewer"}),
    ("DELETE", "/v1/members/{id}", "member_id", NO_BODY),
    ("GET", "/v1/api-keys/{id}", "key_id", NO_BODY),
    ("PATCH", "/v1/api-keys/{id}", "key_id", {"name": "renamed"}),
    ("DELETE", "/v1/api-keys/{id}", "key_id", NO_BODY),
    ("POST", "/v1/api-keys/{id}/rotate", "key_id", {"grace_period_s": 0}),
    ("POST", "/v1/api-keys/{id}/revoke", "key_id", NO_BODY),
    ("GET", "/v1/agent-sessions/{id}", "session_id", NO_BODY),
    ("POST", "/v1/agent-sessions/{id}/terminate", "session_id", NO_BODY),
    ("DELETE", "/v1/sessions/{id}", "session_id", NO_BODY),
    ("GET", "/v1/analytics/alerts/{id}", "alert_id", NO_BODY),
    ("PATCH", "/v1/analytics/alerts/{id}", "alert_id", {"threshold": 5}),
    ("DELETE", "/v1/analytics/alerts/{id}", "alert_id", NO_BODY),
    ("POST", "/v1/analytics/alerts/{id}/test", "alert_id", NO_BODY),
    ("GET", "/v1/publishable-keys/{id}", "publishable_key_id", NO_BODY),
    ("PATCH", "/v1/publishable-keys/{id}", "publishable_key_id", {"name": "renamed"}),
    ("POST", "/v1/publishable-keys/{id}/revoke", "publishable_key_id", NO_BODY),
    ("GET", "/v1/support/tickets/{id}", "ticket_id", NO_BODY),
    ("PATCH", "/v1/support/tickets/{id}", "ticket_id", {"subject": "renamed"}),
    ("GET", "/v1/support/tickets/{id}/messages", "ticket_id", NO_BODY),
    ("POST", "/v1/support/tickets/{id}/messages", "ticket_id", {"body": "hi"}),
    ("POST", "/v1/support/tickets/{id}/resolve", "ticket_id", {"resolution": "done"}),
    ("POST", "/v1/support/tickets/{id}/close", "ticket_id", NO_BODY),
    ("POST", "/v1/support/tickets/{id}/satisfaction", "ticket_id", {"rating": 5}),
    ("GET", "/v1/support/consultations/{id}", "consultation_id", NO_BODY),
    (
        "POST",
        "/v1/support/consultations/{id}/schedule",
        "consultation_id",
        {"scheduled_at": "2030-01-01T10:00:00Z"},
    ),
    ("POST", "/v1/support/consultations/{id}/cancel", "consultation_id", NO_BODY),
    ("GET", "/v1/careers/positions/{id}", "position_id", NO_BODY),
    ("PATCH", "/v1/careers/positions/{id}", "position_id", {"title": "renamed"}),
    ("GET", "/v1/careers/applications/{id}", "application_id", NO_BODY),
    ("POST", "/v1/careers/applications/{id}/stage", "application_id", {"stage": "rejected"}),
    ("POST", "/v1/careers/applications/{id}/withdraw", "application_id", NO_BODY),
    ("GET", "/v1/careers/applications/{id}/resume", "application_id", NO_BODY),
    ("GET", "/v1/careers/applications/{id}/interviews", "application_id", NO_BODY),
    ("GET", "/v1/channel-accounts/{id}", "account_id", NO_BODY),
    ("PATCH", "/v1/channel-accounts/{id}", "account_id", {"name": "renamed"}),
    ("GET", "/v1/conversations/{id}", "conversation_id", NO_BODY),
    ("POST", "/v1/conversations/{id}/messages", "conversation_id", {"body": "hi"}),
    ("GET", "/v1/messages/{id}", "message_id", NO_BODY),
    ("GET", "/v1/campaigns/{id}", "campaign_id", NO_BODY),
    ("POST", "/v1/campaigns/{id}/start", "campaign_id", NO_BODY),
    ("POST", "/v1/campaigns/{id}/cancel", "campaign_id", NO_BODY),
    ("GET", "/v1/campaigns/{id}/recipients", "campaign_id", NO_BODY),
    ("GET", "/v1/campaigns/{id}/stats", "campaign_id", NO_BODY),
    ("GET", "/v1/billing/plans/{id}", "plan_id", NO_BODY),
    ("GET", "/v1/billing/subscriptions/{id}", "subscription_id", NO_BODY),
    ("POST", "/v1/billing/invoices/{id}/payments", "invoice_id", {}),
    ("POST", "/v1/billing/invoices/{id}/checkout", "invoice_id", {"provider": "simulator"}),
    ("GET", "/v1/billing/payments/{id}", "payment_id", NO_BODY),
    ("GET", "/v1/billing/payments/{id}/refunds", "payment_id", NO_BODY),
    ("POST", "/v1/billing/payments/{id}/refunds", "payment_id", {}),
    (
        "PUT",
        "/v1/billing/plans/{id}/dunning",
        "plan_id",
        {"retry_days": [1], "final_action": "pause"},
    ),
    ("POST", "/v1/billing/subscriptions/{id}/licenses", "subscription_id", {"user_id": "u"}),
    ("POST", "/v1/billing/licenses/{id}/unassign", "license_id", NO_BODY),
    ("GET", "/v1/billing/licenses/{id}/usage", "license_id", NO_BODY),
    ("POST", "/v1/calls/{id}/comments", "call_id", {"body": "hi"}),
    ("GET", "/v1/support/tickets/{id}/comments", "ticket_id", NO_BODY),
    ("PATCH", "/v1/comments/{id}", "comment_id", {"body": "hi"}),
    ("DELETE", "/v1/comments/{id}", "comment_id", NO_BODY),
    ("GET", "/v1/video/rooms/{id}", "room_id", NO_BODY),
    ("POST", "/v1/video/rooms/{id}/join", "room_id", NO_BODY),
    ("POST", "/v1/video/rooms/{id}/end", "room_id", NO_BODY),
]
PATH_CASES = [
    *(
        pytest.param(
            _case(method, path.replace("{id}", LONG_ID), body, field=param),
            id=f"{method} {path} id of 41 characters",
        )
        for method, path, param, body in ID_ROUTES
    ),
    *(
        pytest.param(
            _case(method, path.replace("{id}", "key_%00"), body, status=400),
            id=f"{method} {path} id with NUL",
        )
        for method, path, _, body in ID_ROUTES
    ),
]

# The events route takes a batch: an array (or NDJSON), so its shapes differ.
EVENTS = "/v1/track/events"
EVENT_CASES = [
    pytest.param(_case("POST", EVENTS, Raw(b"[{oops"), status=400), id="events not JSON"),
    pytest.param(_case("POST", EVENTS, Raw(b""), status=400), id="events empty body"),
    pytest.param(_case("POST", EVENTS, {"type": "a"}, field=""), id="events an object"),
    pytest.param(_case("POST", EVENTS, "text", field=""), id="events a string"),
    pytest.param(
        _case("POST", EVENTS, Raw(b"[]", "text/plain"), status=415), id="events as text/plain"
    ),
    pytest.param(
        _case("POST", EVENTS, Raw(b'{"type": "a"}\n{', "application/x-ndjson"), status=400),
        id="events NDJSON with a broken line",
    ),
    pytest.param(_case("POST", EVENTS, Streamed(LIMIT * 2), status=413), id="events too large"),
]

HEADER_CASES = [
    pytest.param(
        _case("POST", KEYS, {"name": "k"}, status=400, headers=(("Idempotency-Key", "k" * 256),)),
        id="POST /v1/api-keys Idempotency-Key too long",
    ),
]


# ------------------------------------------------------------------------ tests


@pytest.mark.parametrize(
    "case",
    [*_shape_cases(), *FIELD_CASES, *QUERY_CASES, *PATH_CASES, *EVENT_CASES, *HEADER_CASES],
)
async def test_bad_input_is_a_problem_and_changes_nothing(world: World, case: Bad) -> None:
    before = world.state or await snapshot(world)

    response = await send(world, case)
    world.state = None

    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert response.status_code in expected, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    problem = response.json()
    assert isinstance(problem, dict), problem
    assert problem["type"].startswith("/problems/"), problem
    assert problem["type"].removeprefix("/problems/") in world.problem_codes, problem
    assert problem["status"] == response.status_code, problem
    assert isinstance(problem["title"], str), problem
    assert problem["title"], problem
    assert isinstance(problem["detail"], str), problem
    assert problem["detail"], problem
    if response.status_code == 422:
        errors = problem.get("errors")
        assert isinstance(errors, list), problem
        assert errors, problem
        for error in errors:
            assert isinstance(error["loc"], list), error
            assert error["loc"], error
            assert isinstance(error["field"], str), error
            assert isinstance(error["message"], str), error
        if case.field is not None:
            assert case.field in [e["field"] for e in errors], problem

    world.state = await snapshot(world)
    assert world.state == before, "a refused request changed stored data"


async def test_a_good_request_does_change_the_snapshot(world: World) -> None:
    """The snapshot sees writes, so the comparison above can fail."""
    before = await snapshot(world)
    response = await world.client.patch(
        "/v1/api-keys/{key_id}".format(**world.ids),
        json={"description": "seen by the snapshot"},
        headers=world.tenant.headers,
    )
    world.state = None
    assert response.status_code == 200, response.text
    assert await snapshot(world) != before
