"""Tenancy, proved over the whole API: one organization's credentials cannot read,
change or even detect another organization's records.

The walk reads the route table from ``app.openapi()``, so a route added later is
walked without anyone editing this file -- unless it takes a path parameter this
file does not know (the test then fails, asking for an A-record of that kind) or
needs a request body to get past validation (the test then asks for an example).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe
from fastapi import FastAPI
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]

from commbase.calls.models import Call
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import client_for, make_settings
from tests.core.conftest import running_app
from tests.identity.factories import PASSWORD, Tenant, add_member, auth, make_tenant

PROBLEM = "application/problem+json"
METHODS = ("get", "patch", "post", "put", "delete")  # walked in this order: destructive last

# Routes that answer without credentials. A new unauthenticated route must be added
# here on purpose; the test fails if one appears outside this set.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/problems"),
        ("GET", "/problems/{code}"),
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/signup"),
        ("POST", "/v1/auth/verify-email"),
        ("POST", "/v1/auth/password-reset"),
        ("POST", "/v1/auth/password-reset/confirm"),
        ("POST", "/v1/auth/invitations/accept"),
        ("POST", "/v1/auth/external"),
        ("POST", "/v1/auth/two-factor/setup"),
        ("POST", "/v1/auth/two-factor/activate"),
        ("POST", "/v1/auth/two-factor/disable"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/v1/calendars/{feed_token}.ics"),
        ("POST", "/v1/video/guest/join"),
    }
)
# Public routes authenticated by a token in the body (a video room's guest link): the
# example's made-up token is refused with authentication-required.
TOKEN_IN_BODY: frozenset[tuple[str, str]] = frozenset({("POST", "/v1/video/guest/join")})
# Two-factor set-up is authenticated by the account's password in the body: the
# example's wrong password is refused with invalid-credentials, as sign-in's is.
PASSWORD_CHECKED: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/auth/two-factor/setup"),
        ("POST", "/v1/auth/two-factor/activate"),
        ("POST", "/v1/auth/two-factor/disable"),
    }
)
# Provider callbacks carry no bearer token: the provider's signature authenticates
# them. They are walked by neither organization; unsigned, they must be refused.
SIGNED: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/providers/stripe/webhook"),
        ("POST", "/v1/providers/paypal/webhook"),
        ("POST", "/v1/providers/cashfree/webhook"),
        ("POST", "/v1/providers/twilio/voice/status"),
        ("POST", "/v1/providers/twilio/voice/inbound"),
        ("POST", "/v1/providers/twilio/voice/recording"),
    }
)

# Provider callbacks signed per channel account (a WhatsApp app secret and verify
# token, not a server setting): they take no organization's credentials and refuse
# what no account's secret covers (tests/messaging/test_whatsapp.py).
ACCOUNT_SIGNED: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/v1/providers/whatsapp/webhook"),
        ("POST", "/v1/providers/whatsapp/webhook"),
    }
)

# Which of the first organization's records fills a path parameter:
# (path prefix, parameter name) -> record kind in ``World.records``. The longest
# matching prefix wins; "" matches every path. ``session_id`` means a login session
# under /v1/sessions/ and an agent session under /v1/agent-sessions/.
RECORD_PARAMS: dict[tuple[str, str], str] = {
    ("", "user_id"): "users",
    ("", "member_id"): "members",
    ("", "key_id"): "api_keys",
    ("/v1/sessions/", "session_id"): "login_sessions",
    ("/v1/agent-sessions/", "session_id"): "agent_sessions",
    ("", "contact_id"): "contacts",
    ("", "call_id"): "calls",
    ("", "number_id"): "phone_numbers",
    ("", "transcript_id"): "transcripts",
    ("", "wallet_id"): "wallets",
    ("", "transaction_id"): "transactions",
    ("", "rate_id"): "rates",
    ("", "endpoint_id"): "webhook_endpoints",
    ("", "delivery_id"): "webhook_deliveries",
    ("", "export_id"): "privacy_exports",
    ("", "erasure_id"): "privacy_erasures",
    ("", "experiment_id"): "lab_experiments",
    ("", "alert_id"): "analytics_alerts",
    ("", "booking_id"): "bookings",
    ("", "feed_id"): "calendar_feeds",
    ("", "lead_id"): "leads",
    ("", "webinar_id"): "webinars",
    ("", "registration_id"): "webinar_registrations",
    ("", "favorite_id"): "favorites",
    ("/v1/favorites/items/", "item_id"): "favorite_items",
    ("", "suggestion_id"): "suggestions",
    ("", "personalization_id"): "personalizations",
    ("", "prompt_id"): "saved_prompts",
    ("", "publishable_key_id"): "publishable_keys",
    ("", "ticket_id"): "support_tickets",
    ("", "comment_id"): "comments",
    ("", "consultation_id"): "consultations",
    ("", "position_id"): "career_positions",
    ("", "application_id"): "job_applications",
    ("", "interview_id"): "job_interviews",
    ("/v1/analytics/metrics/", "name"): "custom_metrics",
    ("", "plan_id"): "billing_plans",
    ("", "addon_id"): "billing_addons",
    ("", "coupon_id"): "billing_coupons",
    ("", "customer_id"): "billing_customers",
    ("", "subscription_id"): "billing_subscriptions",
    ("", "invoice_id"): "billing_invoices",
    ("", "payment_id"): "billing_payments",
    ("", "license_id"): "billing_licenses",
    ("", "account_id"): "channel_accounts",
    ("", "conversation_id"): "conversations",
    ("", "campaign_id"): "campaigns",
    ("", "message_id"): "messages",
    ("", "room_id"): "video_rooms",
}
# Path parameters that name no tenant's record; a value that does not exist.
GLOBAL_PARAMS: dict[tuple[str, str], str] = {
    ("/v1/jobs/", "name"): "no-such-job",
    ("/problems/", "code"): "no-such-problem",
    ("/v1/calendars/", "feed_token"): "cbcal_no-such-feed",
    ("/v1/favorites/items/", "type"): "agent",
}
# Query parameters that filter by a record: B passes A's values and must see nothing.
RECORD_QUERIES: dict[str, str] = {
    "user_id": "users",
    "owner_user_id": "users",
    "actor_id": "users",
    "agent_id": "agent_names",
    "agent_session_id": "agent_sessions",
    "owner_id": "owners",
    "call_id": "calls",
    "q": "emails",
    "customer_id": "billing_customers",
    "subscription_id": "billing_subscriptions",
    "invoice_id": "billing_invoices",
    "reference_id": "contacts",
    "assignee_user_id": "users",
    "assignee_agent_session_id": "agent_sessions",
    "contact_id": "contacts",
    "staff_user_id": "users",
    "resource": "resources",
    "webinar_id": "webinars",
    "author_user_id": "users",
    "assignee_id": "users",
    "email": "emails",
}
# Query parameters a route requires, sent with every request the walk makes to it.
EXAMPLE_QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/billing/entitlements"): {"feature": "alpha", "user_id": "usr_x"},
    ("GET", "/v1/billing/transactions"): {"user_id": "usr_x"},
    ("GET", "/v1/billing/retention"): {
        "from": "2020-01-01T00:00:00Z",
        "to": "2030-01-01T00:00:00Z",
    },
    ("GET", "/v1/billing/revenue-breakdown"): {
        "from": "2020-01-01T00:00:00Z",
        "to": "2030-01-01T00:00:00Z",
    },
    ("GET", "/v1/transcripts/search"): {"q": "refund"},
    ("GET", "/v1/conversations/search"): {"q": "alpha"},
    ("GET", "/v1/providers/whatsapp/webhook"): {
        "hub.mode": "subscribe",
        "hub.verify_token": "no-such-verify-token",
        "hub.challenge": "1",
    },
    ("GET", "/v1/analytics/series"): {"metrics": "calls.total"},
    ("GET", "/v1/analytics/series.csv"): {"metrics": "calls.total"},
    ("GET", "/v1/reports/messaging"): {
        "from": "2026-06-01T00:00:00Z",
        "to": "2027-05-01T00:00:00Z",
        "group_by": "label",
    },
    # A's item: B's check finds none of its own.
    ("GET", "/v1/favorites/check"): {"type": "agent", "item_id": "alpha-item"},
}

# A body that validates, so a write reaches its lookup (or, without an id, runs for B).
EXAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/billing/plans"): {
        "code": "bravo",
        "name": "Bravo",
        "amount": 1,
        "currency": "USD",
    },
    ("PATCH", "/v1/billing/plans/{plan_id}"): {"name": "Hijacked", "trial_days": 99},
    ("POST", "/v1/billing/addons"): {"code": "bravo", "name": "B", "amount": 1, "currency": "USD"},
    ("PATCH", "/v1/billing/addons/{addon_id}"): {"name": "Hijacked"},
    ("POST", "/v1/billing/coupons"): {"code": "BRAVO", "name": "B", "percent_off": 99},
    ("PUT", "/v1/billing/tax-rates"): {"country": "FR", "percent": "99"},
    ("POST", "/v1/billing/customers"): {"kind": "contact", "reference_id": f"cnt_{'0' * 26}"},
    ("PATCH", "/v1/billing/customers/{customer_id}"): {"name": "Hijacked", "tax_id": "X"},
    ("POST", "/v1/billing/subscriptions"): {
        "customer_id": f"cus_{'0' * 26}",
        "plan_id": f"plan_{'0' * 26}",
    },
    ("PATCH", "/v1/billing/subscriptions/{subscription_id}"): {"quantity": 1},
    ("POST", "/v1/billing/subscriptions/{subscription_id}/cancel"): {"at_period_end": False},
    ("POST", "/v1/billing/invoices"): {
        "customer_id": f"cus_{'0' * 26}",
        "currency": "USD",
        "lines": [{"description": "Bravo", "unit_amount": 1}],
    },
    ("POST", "/v1/billing/invoices/{invoice_id}/finalize"): {},
    ("POST", "/v1/billing/subscriptions/{subscription_id}/licenses"): {"user_id": "usr_x"},
    ("POST", "/v1/billing/invoices/{invoice_id}/payments"): {"amount": 1},
    ("POST", "/v1/billing/invoices/{invoice_id}/checkout"): {
        "provider": "simulator",
        "payment_method": "sim_card_ok",
    },
    ("POST", "/v1/billing/payments/{payment_id}/refunds"): {"amount": 1},
    ("PUT", "/v1/billing/plans/{plan_id}/dunning"): {"retry_days": [9], "final_action": "pause"},
    ("POST", "/v1/auth/login"): {"email": "nobody@nowhere.example", "password": "wrong password"},
    ("POST", "/v1/auth/signup"): {
        "email": "someone@bravo.example",
        "password": "a long enough password",
        "organization_name": "Bravo Two",
    },
    ("POST", "/v1/auth/verify-email"): {"token": "not-a-token"},
    ("POST", "/v1/auth/password-reset"): {"email": "nobody@nowhere.example"},
    ("POST", "/v1/auth/password-reset/confirm"): {
        "token": "not-a-token",
        "password": "a long enough password",
    },
    ("POST", "/v1/auth/invitations/accept"): {"token": "not-a-token", "password": "whatever"},
    ("POST", "/v1/invitations"): {"email": "invitee@bravo.example", "role": "viewer"},
    ("POST", "/v1/auth/two-factor/setup"): {
        "email": "nobody@nowhere.example",
        "password": "wrong password",
    },
    ("POST", "/v1/auth/two-factor/activate"): {
        "email": "nobody@nowhere.example",
        "password": "wrong password",
        "code": "123456",
    },
    ("POST", "/v1/auth/two-factor/disable"): {
        "email": "nobody@nowhere.example",
        "password": "wrong password",
        "code": "123456",
    },
    ("PUT", "/v1/organizations/current/two-factor"): {"required": False},
    ("POST", "/v1/auth/external"): {"provider": "unconfigured", "id_token": "x.y.z"},
    ("POST", "/v1/me/external-identities"): {"provider": "unconfigured", "id_token": "x.y.z"},
    ("PATCH", "/v1/me"): {"first_name": "Bravo"},
    ("POST", "/v1/me/password"): {
        "current_password": "not the password",
        "new_password": "another long password",
    },
    ("PATCH", "/v1/organizations/current"): {"industry": "testing"},
    ("POST", "/v1/users"): {"email": "newcomer@bravo.example", "role": "viewer"},
    ("PATCH", "/v1/users/{user_id}"): {"first_name": "Mallory", "status": "suspended"},
    ("PATCH", "/v1/members/{member_id}"): {"role": "viewer"},
    ("POST", "/v1/api-keys"): {"name": "bravo key"},
    ("PATCH", "/v1/api-keys/{key_id}"): {"name": "hijacked", "allowed_ips": ["203.0.113.0/24"]},
    ("POST", "/v1/api-keys/{key_id}/rotate"): {"grace_period_s": 0},
    ("POST", "/v1/agent-sessions"): {"agent_context": {"agent_id": "bravo-bot"}},
    ("POST", "/v1/contacts"): {"name": "Bravo Customer"},
    ("POST", "/v1/channel-accounts"): {"kind": "sms", "name": "Bravo line"},
    ("PATCH", "/v1/channel-accounts/{account_id}"): {"name": "Hijacked", "status": "disabled"},
    ("POST", "/v1/conversations"): {"account_id": "chan_none", "contact_id": "cnt_none"},
    ("PATCH", "/v1/conversations/{conversation_id}"): {"priority": "urgent"},
    ("POST", "/v1/conversations/{conversation_id}/status"): {"status": "resolved"},
    ("POST", "/v1/conversations/{conversation_id}/assign"): {},
    ("POST", "/v1/conversations/{conversation_id}/labels"): {"add": ["hijacked"]},
    ("POST", "/v1/conversations/{conversation_id}/notes"): {"body": "Hijacked"},
    ("POST", "/v1/conversations/{conversation_id}/messages"): {"body": "Hijacked"},
    ("POST", "/v1/campaigns"): {
        "name": "Bravo blast",
        "account_id": "chan_none",
        "template_name": "bravo_blast",
        "audience": {"kind": "labels", "labels": ["alpha-label"]},
    },
    ("POST", "/v1/campaigns/{campaign_id}/schedule"): {},
    ("POST", "/v1/messaging/opt-outs"): {"contact_id": "cnt_none"},
    ("POST", "/v1/messages/inbound"): {"from_phone": "+14155550199", "body": "Hijacked"},
    ("PATCH", "/v1/contacts/{contact_id}"): {"name": "Hijacked", "blocked": True},
    ("PUT", "/v1/calls/{call_id}/transcript"): {
        "segments": [{"speaker": "caller", "text": "Hijacked", "start": 0, "end": 1}]
    },
    ("POST", "/v1/wallets"): {},
    ("PATCH", "/v1/wallets/{wallet_id}"): {"status": "frozen"},
    ("POST", "/v1/wallets/{wallet_id}/topups"): {"amount": 100},
    ("POST", "/v1/wallets/{wallet_id}/adjustments"): {"amount": -4321, "reason": "taken"},
    ("POST", "/v1/transactions/{transaction_id}/refunds"): {"amount": 1, "reason": "taken"},
    ("PUT", "/v1/rates"): {"country": "GB", "per_minute": "0.10"},
    ("POST", "/v1/calls"): {"to": "+14155550199"},
    ("POST", "/v1/phone-numbers"): {"number": "+14155550181"},
    ("PATCH", "/v1/phone-numbers/{number_id}"): {"friendly_name": "Hijacked"},
    ("POST", "/v1/phone-numbers/{number_id}/simulate-inbound"): {"from": "+14155550182"},
    ("POST", "/v1/calls/{call_id}/actions"): {"action": "hangup"},
    ("POST", "/v1/calls/{call_id}/quality"): {"mos_score": 1.0},
    ("POST", "/v1/calls/{call_id}/review"): {"rating": 1},
    ("PATCH", "/v1/calls/{call_id}/analysis"): {"sentiment": "negative"},
    ("POST", "/v1/webhooks"): {"url": "https://93.184.216.34/bravo"},
    ("PATCH", "/v1/webhooks/{endpoint_id}"): {"description": "hijacked", "status": "paused"},
    ("POST", "/v1/webhooks/{endpoint_id}/rotate-secret"): {"grace_period_s": 0},
    ("POST", "/v1/webhooks/{endpoint_id}/replay"): {"since": "2020-01-01T00:00:00Z"},
    # A subject that exists nowhere: B's own organization answers 404, as for A's ids
    # (tests/privacy/test_erasures.py sends A's real ids too).
    ("POST", "/v1/privacy/exports"): {"subject_type": "contact", "subject_id": f"cnt_{'0' * 26}"},
    ("POST", "/v1/privacy/erasures"): {"subject_type": "contact", "subject_id": f"cnt_{'0' * 26}"},
    ("PUT", "/v1/privacy/retention"): {"overrides": {"transcripts": 1, "outbox_events": 1}},
    # Event ids are per organization: B replaying A's id stores B's own event.
    ("POST", "/v1/analytics/metrics"): {"name": "bravo_metric", "event_type": "bravo.seen"},
    ("PATCH", "/v1/analytics/metrics/{name}"): {"description": "hijacked", "event_type": "x"},
    ("POST", "/v1/analytics/snapshots"): {"type": "daily"},
    ("POST", "/v1/track/events"): [{"id": "alpha-event-1", "type": "bravo.seen"}],
    ("POST", "/v1/track/pageview"): {"url": "https://bravo.example/", "visitor_id": "alpha-v"},
    ("POST", "/v1/track/visitor"): {"visitor_id": "alpha-v"},
    ("POST", "/v1/track/lab"): {"experiment_type": "bravo-art"},
    ("PATCH", "/v1/track/lab/{experiment_id}"): {"status": "failed", "output": {"x": 1}},
    ("POST", "/v1/analytics/alerts"): {
        "name": "Bravo failures",
        "metric": "calls.failure_rate",
        "comparator": "gt",
        "threshold": 10,
    },
    ("PATCH", "/v1/analytics/alerts/{alert_id}"): {"threshold": 99, "enabled": False},
    ("POST", "/v1/bookings"): {
        "service": "Bravo cut",
        "currency": "EUR",
        "starts_at": "2031-01-01T10:00:00Z",
    },
    ("PATCH", "/v1/bookings/{booking_id}"): {"service": "Hijacked", "price": 1},
    ("POST", "/v1/bookings/{booking_id}/cancel"): {"reason": "Hijacked"},
    ("POST", "/v1/bookings/calendar-feeds"): {"name": "Bravo feed"},
    ("POST", "/v1/leads"): {"name": "Bravo lead"},
    ("PATCH", "/v1/leads/{lead_id}"): {"notes": "Hijacked", "follow_up_status": "lost"},
    ("POST", "/v1/leads/{lead_id}/convert"): {"deal_value": 1, "currency": "EUR"},
    ("POST", "/v1/webinars"): {"title": "Bravo webinar", "starts_at": "2031-01-01T10:00:00Z"},
    ("PATCH", "/v1/webinars/{webinar_id}"): {"title": "Hijacked", "capacity": 1},
    ("POST", "/v1/webinars/{webinar_id}/registrations"): {"email": "mallory@bravo.example"},
    ("POST", "/v1/webinar-registrations/{registration_id}/engagement"): {"chat_messages": 5},
    ("POST", "/v1/webinar-registrations/{registration_id}/feedback"): {"rating": 1},
    ("POST", "/v1/favorites"): {"type": "agent", "item_id": "bravo-item"},
    ("PATCH", "/v1/favorites/{favorite_id}"): {"title": "Hijacked", "folder": "Bravo"},
    ("POST", "/v1/suggestions"): {"title": "Bravo idea", "description": "x"},
    ("PATCH", "/v1/suggestions/{suggestion_id}"): {"status": "declined"},
    ("POST", "/v1/suggestions/{suggestion_id}/vote"): {"value": "down"},
    ("POST", "/v1/suggestions/{suggestion_id}/comments"): {"body": "Hijacked"},
    ("PUT", "/v1/personalizations"): {"agent_id": "bravo-bot", "display": {"name": "B"}},
    ("POST", "/v1/personalizations/{personalization_id}/prompts"): {"title": "B", "prompt": "B"},
    ("POST", "/v1/intake/webinars/registrations"): {
        "webinar_id": f"wbn_{'0' * 26}",
        "email": "mallory@bravo.example",
    },
    ("POST", "/v1/publishable-keys"): {
        "name": "bravo forms",
        "scopes": ["intake:support"],
        "allowed_origins": ["https://bravo.example"],
    },
    ("PATCH", "/v1/publishable-keys/{publishable_key_id}"): {
        "name": "hijacked",
        "allowed_origins": ["https://evil.example"],
    },
    ("POST", "/v1/support/tickets"): {"subject": "Bravo's", "description": "x"},
    ("PUT", "/v1/support/sla-targets"): {
        "targets": [{"priority": "low", "first_response_minutes": 1, "resolution_minutes": 2}]
    },
    ("PATCH", "/v1/support/tickets/{ticket_id}"): {"subject": "Hijacked", "status": "pending"},
    ("POST", "/v1/support/tickets/{ticket_id}/messages"): {"body": "Hijacked", "internal": True},
    ("POST", "/v1/support/tickets/{ticket_id}/comments"): {"body": "Hijacked"},
    ("POST", "/v1/calls/{call_id}/comments"): {"body": "Hijacked"},
    ("PATCH", "/v1/comments/{comment_id}"): {"body": "Hijacked"},
    ("POST", "/v1/support/tickets/{ticket_id}/resolve"): {"resolution": "Hijacked"},
    ("POST", "/v1/support/tickets/{ticket_id}/satisfaction"): {"rating": 1},
    ("POST", "/v1/support/consultations"): {"type": "training"},
    ("PATCH", "/v1/support/consultations/{consultation_id}"): {"company_name": "Hijacked"},
    ("POST", "/v1/support/consultations/{consultation_id}/schedule"): {
        "scheduled_at": "2030-01-01T10:00:00Z"
    },
    ("POST", "/v1/support/consultations/{consultation_id}/complete"): {"outcome": "won"},
    ("POST", "/v1/support/consultations/{consultation_id}/feedback"): {"rating": 1},
    ("POST", "/v1/careers/positions"): {"title": "Bravo role"},
    ("PATCH", "/v1/careers/positions/{position_id}"): {"title": "Hijacked", "status": "closed"},
    ("POST", "/v1/careers/applications"): {
        "position_id": f"pos_{'0' * 26}",
        "first_name": "Mallory",
        "last_name": "Bravo",
        "email": "mallory@bravo.example",
    },
    ("POST", "/v1/careers/applications/{application_id}/stage"): {"stage": "rejected"},
    ("POST", "/v1/careers/applications/{application_id}/offer"): {
        "salary": 1,
        "currency": "USD",
    },
    ("POST", "/v1/careers/applications/{application_id}/interviews"): {
        "scheduled_at": "2030-01-01T10:00:00Z"
    },
    ("PATCH", "/v1/careers/applications/{application_id}/interviews/{interview_id}"): {
        "status": "cancelled"
    },
    ("POST", "/v1/video/rooms"): {"title": "Bravo room", "customer_name": "Bravo guest"},
    ("POST", "/v1/video/rooms/{room_id}/guest-links"): {"ttl_seconds": 600},
    ("POST", "/v1/video/rooms/{room_id}/join"): {"name": "Mallory"},
    ("POST", "/v1/video/rooms/{room_id}/quality"): {"mos": 1.0, "rtt_ms": 900},
    ("POST", "/v1/video/rooms/{room_id}/wrap-up"): {"problem_solved": False, "outcome": "hijacked"},
    ("POST", "/v1/video/rooms/{room_id}/rating"): {"rating": 1},
    ("POST", "/v1/video/guest/join"): {"token": "cb_vgl_made.up", "name": "Mallory"},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return (self.method, self.path) in PUBLIC | SIGNED | ACCOUNT_SIGNED

    @property
    def body(self) -> Any:
        return EXAMPLE_BODIES.get((self.method, self.path))


@dataclass
class World:
    """Organization A with one record of every kind; organization B's credentials."""

    a: Tenant
    b: Tenant
    records: dict[str, list[str]]
    secrets: dict[str, str]  # what A holds: label -> token
    b_credentials: dict[str, dict[str, str]]  # label -> headers
    markers: list[str] = field(default_factory=list)  # strings that identify A


def routes_of(app: FastAPI) -> list[Route]:
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method in METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            params = operation.get("parameters", [])
            found.append(
                Route(
                    method=method.upper(),
                    path=path,
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                )
            )
    return sorted(found, key=lambda r: METHODS.index(r.method.lower()))


def _lookup(table: dict[tuple[str, str], str], path: str, param: str) -> str | None:
    matches = [
        (prefix, value)
        for (prefix, name), value in table.items()
        if name == param and path.startswith(prefix)
    ]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


def record_kind(route: Route, param: str) -> str | None:
    return _lookup(RECORD_PARAMS, route.path, param)


def path_candidates(route: Route, world: World) -> Iterator[tuple[str, str]]:
    """Every (path with A's ids, same path with ids that never existed)."""
    choices: list[list[tuple[str, str]]] = []
    for param in route.path_params:
        kind = record_kind(route, param)
        if kind is not None:
            choices.append([(rid, _never_existed(rid)) for rid in world.records[kind]])
            continue
        fixed = _lookup(GLOBAL_PARAMS, route.path, param)
        if fixed is None:
            pytest.fail(
                f"{route}: path parameter {{{param}}} names no known record. Create a record "
                f"of that kind in organization A (see build_world) and map it in RECORD_PARAMS, "
                f"or, if it names no tenant's data, add it to GLOBAL_PARAMS."
            )
        choices.append([(fixed, fixed)])
    for combination in itertools.product(*choices):
        real, unknown = route.path, route.path
        for param, (a_value, never) in zip(route.path_params, combination, strict=True):
            real = real.replace(f"{{{param}}}", a_value)
            unknown = unknown.replace(f"{{{param}}}", never)
        yield real, unknown


def _never_existed(record_id: str) -> str:
    """An id of the same kind and length that no one holds."""
    prefix, _, tail = record_id.rpartition("_")
    return f"{prefix}_{'0' * len(tail)}"


def problem_key(response: httpx.Response) -> tuple[Any, ...]:
    """What a caller can tell apart: status, problem type, title and detail."""
    if not response.headers.get("content-type", "").startswith(PROBLEM):
        return (response.status_code, response.text)
    body = response.json()
    return (response.status_code, body.get("type"), body.get("title"), body.get("detail"))


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _post(
    client: httpx.AsyncClient, path: str, token: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _call_of(app: FastAPI, tenant: Tenant) -> str:
    """A finished call of ``tenant``, written straight to the database."""
    async with app.state.db.sessionmaker() as session:
        call = Call(org_id=tenant.org_id, provider="simulator", status="completed")
        session.add(call)
        await session.commit()
        return call.id


async def _billing_records(
    client: httpx.AsyncClient, a: Tenant, contact_id: str
) -> dict[str, list[str]]:
    """A's plan, add-on, coupon, customer, subscription and invoices."""
    plan = await _post(
        client,
        "/v1/billing/plans",
        a.api_key,
        {"code": "alpha", "name": "Alpha Plan", "amount": 4321, "currency": "USD"},
    )
    addon = await _post(
        client,
        "/v1/billing/addons",
        a.api_key,
        {"code": "alpha", "name": "Alpha Add-on", "amount": 432, "currency": "USD"},
    )
    coupon = await _post(
        client,
        "/v1/billing/coupons",
        a.api_key,
        {"code": "ALPHA", "name": "Alpha Coupon", "percent_off": 10, "duration": "forever"},
    )
    customer = await _post(
        client,
        "/v1/billing/customers",
        a.api_key,
        {"kind": "contact", "reference_id": contact_id, "tax_country": "FR"},
    )
    subscription = await _post(
        client,
        "/v1/billing/subscriptions",
        a.api_key,
        {
            "customer_id": customer["id"],
            "plan_id": plan["id"],
            "addons": [{"addon_id": addon["id"]}],
            "coupon_id": coupon["id"],
        },
    )
    member_customer = await _post(
        client, "/v1/billing/customers", a.api_key, {"kind": "user", "reference_id": a.owner_id}
    )
    seat = await _post(
        client,
        "/v1/billing/subscriptions",
        a.api_key,
        {"customer_id": member_customer["id"], "plan_id": plan["id"]},
    )
    license_ = await _post(
        client,
        f"/v1/billing/subscriptions/{seat['id']}/licenses",
        a.api_key,
        {"user_id": a.owner_id},
    )
    one_off = await _post(
        client,
        "/v1/billing/invoices",
        a.api_key,
        {
            "customer_id": customer["id"],
            "currency": "USD",
            "lines": [{"description": "Alpha setup", "unit_amount": 4321}],
        },
    )
    due = await _post(
        client,
        "/v1/billing/invoices",
        a.api_key,
        {
            "customer_id": customer["id"],
            "currency": "USD",
            "lines": [{"description": "Alpha training", "unit_amount": 5000}],
            "finalize": True,
        },
    )
    paid = await _post(
        client,
        f"/v1/billing/invoices/{due['id']}/checkout",
        a.api_key,
        {"provider": "simulator", "payment_method": "sim_card_ok", "amount": 2000},
    )
    return {
        "billing_payments": [paid["payment"]["id"]],
        "billing_plans": [plan["id"]],
        "billing_addons": [addon["id"]],
        "billing_coupons": [coupon["id"]],
        "billing_customers": [customer["id"]],
        "billing_subscriptions": [subscription["id"]],
        "billing_invoices": [one_off["id"]],
        "billing_licenses": [license_["id"]],
    }


async def build_world(app: FastAPI, client: httpx.AsyncClient) -> World:
    a = await make_tenant(app, name="Alpha Widgets")
    b = await make_tenant(app, name="Bravo Gadgets")
    member_user, member_email = await add_member(app, a, role=Role.AGENT)
    members = (await client.get("/v1/members", headers=a.headers)).json()["data"]
    extra_key = await _post(client, "/v1/api-keys", a.api_key, {"name": "alpha second key"})
    owner_login = await _login(client, a.owner_email)
    member_login = await _login(client, member_email)
    agent = await _post(
        client,
        "/v1/agent-sessions",
        a.api_key,
        {"session_type": "authenticated", "agent_context": {"agent_id": "alpha-bot"}},
    )
    contact = await _post(
        client, "/v1/contacts", a.api_key, {"name": "Alpha Customer", "phone": "+14155550100"}
    )
    agent_contact = await _post(
        client, "/v1/contacts", agent["session_token"], {"name": "Alpha Agent's Contact"}
    )
    call_id = await _call_of(app, a)
    number = await _post(client, "/v1/phone-numbers", a.api_key, {"number": "+14155550160"})
    # Words B's searches use (the walk's q values), said on A's call.
    said = f"Please refund {a.owner_email} and {member_email}"
    transcript = await client.put(
        f"/v1/calls/{call_id}/transcript",
        json={"segments": [{"speaker": "caller", "text": said, "start": 0, "end": 3}]},
        headers=a.headers,
    )
    assert transcript.status_code == 200, transcript.text
    wallet = await _post(client, "/v1/wallets", a.api_key, {})
    topup = await _post(client, f"/v1/wallets/{wallet['id']}/topups", a.api_key, {"amount": 4321})
    video_room = await _post(
        client,
        "/v1/video/rooms",
        a.api_key,
        {"title": "Alpha video room", "customer_name": "Alpha Guest", "contact_id": contact["id"]},
    )
    await client.post(f"/v1/video/rooms/{video_room['id']}/join", headers=a.headers)
    rate = await client.put(
        "/v1/rates", json={"country": "FR", "per_minute": "0.0432"}, headers=a.headers
    )
    assert rate.status_code == 200, rate.text
    endpoint = await _post(
        client, "/v1/webhooks", a.api_key, {"url": "https://93.184.216.34/alpha"}
    )
    ping = await client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=a.headers)
    assert ping.status_code == 202, ping.text
    export = await _post(
        client,
        "/v1/privacy/exports",
        a.api_key,
        {"subject_type": "contact", "subject_id": contact["id"]},
    )
    leaver = await _post(client, "/v1/contacts", a.api_key, {"name": "Alpha Leaver"})
    erasure = await _post(
        client,
        "/v1/privacy/erasures",
        a.api_key,
        {"subject_type": "contact", "subject_id": leaver["id"]},
    )
    retention = await client.put(
        "/v1/privacy/retention", json={"overrides": {"transcripts": 45}}, headers=a.headers
    )
    assert retention.status_code == 200, retention.text
    lab = await _post(client, "/v1/track/lab", a.api_key, {"experiment_type": "alpha-art"})
    tracked = await client.post(
        "/v1/track/events", json=[{"id": "alpha-event-1", "type": "alpha.seen"}], headers=a.headers
    )
    assert tracked.json()["accepted"] == 1, tracked.text
    alert = await _post(
        client,
        "/v1/analytics/alerts",
        a.api_key,
        {
            "name": "Alpha failures",
            "metric": "calls.failure_rate",
            "comparator": "gt",
            "threshold": 5,
        },
    )
    metric = await _post(
        client,
        "/v1/analytics/metrics",
        a.api_key,
        {"name": "alpha_metric", "event_type": "alpha.seen", "description": "Alpha's own"},
    )
    publishable_key = await _post(
        client,
        "/v1/publishable-keys",
        a.api_key,
        {
            "name": "Alpha forms",
            "scopes": ["intake:support"],
            "allowed_origins": ["https://alpha.example"],
        },
    )
    ticket = await _post(
        client,
        "/v1/support/tickets",
        a.api_key,
        {
            "subject": "Alpha ticket",
            "description": "Alpha's problem",
            "contact_id": contact["id"],
            "user_id": member_user,
            "assignee_id": member_user,
            "requester_email": member_email,
        },
    )
    await _post(client, f"/v1/support/tickets/{ticket['id']}/messages", a.api_key, {"body": "hi"})
    comment = await _post(
        client, f"/v1/calls/{call_id}/comments", a.api_key, {"body": "Alpha comment"}
    )
    consultation = await _post(
        client,
        "/v1/support/consultations",
        a.api_key,
        {"type": "product_demo", "company_name": "Alpha Widgets", "user_id": member_user},
    )
    job = await _post(client, "/v1/careers/positions", a.api_key, {"title": "Alpha role"})
    job_application = await _post(
        client,
        "/v1/careers/applications",
        a.api_key,
        {
            "position_id": job["id"],
            "first_name": "Alpha",
            "last_name": "Applicant",
            "email": member_email,
            "user_id": member_user,
        },
    )
    job_interview = await _post(
        client,
        f"/v1/careers/applications/{job_application['id']}/interviews",
        a.api_key,
        {"scheduled_at": "2030-01-01T10:00:00Z"},
    )
    booking = await _post(
        client,
        "/v1/bookings",
        a.api_key,
        {
            "service": "Alpha massage",
            "currency": "EUR",
            "starts_at": "2031-01-01T10:00:00Z",
            "contact_id": contact["id"],
            "resource": "Alpha Room",
            "staff_user_id": member_user,
        },
    )
    calendar_feed = await _post(client, "/v1/bookings/calendar-feeds", a.api_key, {})
    lead = await _post(
        client, "/v1/leads", a.api_key, {"name": "Alpha lead", "contact_id": contact["id"]}
    )
    channel_account = await _post(
        client, "/v1/channel-accounts", a.api_key, {"kind": "sms", "name": "Alpha line"}
    )
    conversation = await _post(
        client,
        "/v1/conversations",
        a.api_key,
        {"account_id": channel_account["id"], "contact_id": contact["id"]},
    )
    conversation_url = f"/v1/conversations/{conversation['id']}"
    for action, action_body in (
        ("assign", {"user_id": member_user}),
        ("labels", {"add": ["alpha-label"]}),
    ):
        done = await client.post(
            f"{conversation_url}/{action}", json=action_body, headers=a.headers
        )
        assert done.status_code == 200, done.text
    await _post(client, f"{conversation_url}/notes", a.api_key, {"body": "Alpha's note"})
    queued = await client.post(
        f"{conversation_url}/messages", json={"body": "Alpha's message"}, headers=a.headers
    )
    assert queued.status_code == 202, queued.text
    message = queued.json()
    await _post(client, "/v1/messaging/opt-outs", a.api_key, {"contact_id": contact["id"]})
    campaign = await _post(
        client,
        "/v1/campaigns",
        a.api_key,
        {
            "name": "Alpha blast",
            "account_id": channel_account["id"],
            "template_name": "alpha_blast",
            "audience": {"kind": "contacts", "contact_ids": [contact["id"]]},
        },
    )
    webinar = await _post(
        client,
        "/v1/webinars",
        a.api_key,
        {"title": "Alpha webinar", "starts_at": "2031-01-01T10:00:00Z", "capacity": 5},
    )
    registration = await _post(
        client,
        f"/v1/webinars/{webinar['id']}/registrations",
        a.api_key,
        {"email": member_email, "user_id": member_user, "contact_id": contact["id"]},
    )
    favorite = await _post(
        client, "/v1/favorites", a.api_key, {"type": "agent", "item_id": "alpha-item"}
    )
    suggestion = await _post(
        client, "/v1/suggestions", a.api_key, {"title": "Alpha idea", "description": "Alpha's"}
    )
    voted = await client.post(
        f"/v1/suggestions/{suggestion['id']}/vote", json={"value": "up"}, headers=a.headers
    )
    assert voted.status_code == 200, voted.text
    await _post(
        client, f"/v1/suggestions/{suggestion['id']}/comments", a.api_key, {"body": "Alpha's"}
    )
    personalization = await client.put(
        "/v1/personalizations", json={"agent_id": "alpha-bot"}, headers=a.headers
    )
    assert personalization.status_code == 200, personalization.text
    with_prompt = await _post(
        client,
        f"/v1/personalizations/{personalization.json()['id']}/prompts",
        a.api_key,
        {"title": "Alpha prompt", "prompt": "Alpha's"},
    )
    billing = await _billing_records(client, a, contact["id"])
    audit = (await client.get("/v1/audit-log", headers=a.headers)).json()["data"]
    assert audit, "organization A should have audit entries by now"

    b_login = await _login(client, b.owner_email)
    b_agent = await _post(
        client, "/v1/agent-sessions", b.api_key, {"agent_context": {"agent_id": "bravo-bot"}}
    )
    records = {
        "users": [a.owner_id, member_user],
        "members": [m["id"] for m in members],
        "api_keys": [a.api_key_id, extra_key["id"]],
        "login_sessions": [owner_login["session"]["id"], member_login["session"]["id"]],
        "agent_sessions": [agent["id"]],
        "contacts": [contact["id"], agent_contact["id"]],
        "calls": [call_id],
        "phone_numbers": [number["id"]],
        "transcripts": [transcript.json()["id"]],
        "wallets": [wallet["id"]],
        "transactions": [topup["transaction"]["id"]],
        "rates": [rate.json()["id"]],
        "webhook_endpoints": [endpoint["id"]],
        "webhook_deliveries": [ping.json()["id"]],
        "privacy_exports": [export["id"]],
        "privacy_erasures": [erasure["id"]],
        "lab_experiments": [lab["id"]],
        "analytics_alerts": [alert["id"]],
        "custom_metrics": [metric["name"]],
        "bookings": [booking["id"]],
        "calendar_feeds": [calendar_feed["id"]],
        "leads": [lead["id"]],
        "resources": ["Alpha Room"],
        "webinars": [webinar["id"]],
        "webinar_registrations": [registration["id"]],
        "favorites": [favorite["id"]],
        "favorite_items": ["alpha-item"],
        "suggestions": [suggestion["id"]],
        "personalizations": [with_prompt["id"]],
        "saved_prompts": [with_prompt["saved_prompts"][0]["id"]],
        "publishable_keys": [publishable_key["id"]],
        "support_tickets": [ticket["id"]],
        "comments": [comment["id"]],
        "consultations": [consultation["id"]],
        "career_positions": [job["id"]],
        "job_applications": [job_application["id"]],
        "job_interviews": [job_interview["id"]],
        "channel_accounts": [channel_account["id"]],
        "conversations": [conversation["id"]],
        "campaigns": [campaign["id"]],
        "messages": [message["id"]],
        "video_rooms": [video_room["id"]],
        **billing,
        "owners": [a.org_id, a.owner_id, member_user],
        "audit_entries": [entry["id"] for entry in audit],
        "agent_names": ["alpha-bot"],
        "emails": [a.owner_email, member_email],
    }
    secrets = {
        "owner API key": a.api_key,
        "second API key": extra_key["key"],
        "owner login session": owner_login["token"],
        "member login session": member_login["token"],
        "agent session": agent["session_token"],
    }
    markers = [a.org_id, a.slug, "Alpha Widgets", "Alpha Customer", "+14155550100"]
    markers += ["Alpha Agent's Contact"]
    markers += ["Alpha massage", "Alpha lead", calendar_feed["url"], "Alpha webinar"]
    markers += ["Alpha idea", "Alpha prompt"]
    markers += ["Alpha Plan", "Alpha Add-on", "Alpha Coupon"]
    markers += ["Alpha ticket", "Alpha's problem", "https://alpha.example"]
    markers += ["Alpha comment", "Alpha video room", "Alpha Guest", video_room["guest_token"]]
    markers += ["Alpha line", "Alpha's note", "Alpha's message", "alpha-label"]
    markers += secrets.values()
    markers += [value for values in records.values() for value in values]
    return World(
        a=a,
        b=b,
        records=records,
        secrets=secrets,
        b_credentials={
            "B's owner API key": b.headers,
            "B's owner login session": auth(b_login["token"]),
            "B's agent session": auth(b_agent["session_token"]),
        },
        markers=markers,
    )


def _stable(item: dict[str, Any], *fields: str) -> tuple[Any, ...]:
    return tuple(item.get(f) for f in fields)


async def state_of_a(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """What B must not be able to change, read through A's own credentials."""
    headers = world.a.headers

    async def get(path: str, token_headers: dict[str, str] = headers) -> Any:
        response = await client.get(path, headers=token_headers)
        assert response.status_code == 200, f"GET {path} for A: {response.text}"
        return response.json()

    org = await get("/v1/organizations/current")
    keys = (await get("/v1/api-keys"))["data"]
    members = (await get("/v1/members"))["data"]
    agents = (await get("/v1/agent-sessions"))["data"]
    contacts = (await get("/v1/contacts"))["data"]
    transcript = await get(f"/v1/transcripts/{world.records['transcripts'][0]}")
    calls = (await get("/v1/calls"))["data"]
    wallets = (await get("/v1/wallets"))["data"]
    transactions = (await get("/v1/transactions"))["data"]
    rates = (await get("/v1/rates"))["data"]
    webhooks = (await get("/v1/webhooks"))["data"]
    export = await get(f"/v1/privacy/exports/{world.records['privacy_exports'][0]}")
    erasure = await get(f"/v1/privacy/erasures/{world.records['privacy_erasures'][0]}")
    retention = (await get("/v1/privacy/retention"))["policies"]
    lab = await get(f"/v1/track/lab/{world.records['lab_experiments'][0]}")
    bookings = (await get("/v1/bookings"))["data"]
    calendar_feeds = (await get("/v1/bookings/calendar-feeds"))["data"]
    leads = (await get("/v1/leads"))["data"]
    webinars = (await get("/v1/webinars"))["data"]
    registrations = (await get("/v1/webinar-registrations"))["data"]
    favorites = (await get("/v1/favorites"))["data"]
    suggestions = (await get("/v1/suggestions"))["data"]
    personalizations = (await get("/v1/personalizations"))["data"]
    publishable_keys = (await get("/v1/publishable-keys"))["data"]
    tickets = (await get("/v1/support/tickets"))["data"]
    thread = await get(f"/v1/support/tickets/{world.records['support_tickets'][0]}/messages")
    consultations = (await get("/v1/support/consultations"))["data"]
    positions = (await get("/v1/careers/positions"))["data"]
    applications = (await get("/v1/careers/applications"))["data"]
    job_interviews = (
        await get(f"/v1/careers/applications/{world.records['job_applications'][0]}/interviews")
    )["data"]
    alert = await get(f"/v1/analytics/alerts/{world.records['analytics_alerts'][0]}")
    metrics = [m for m in (await get("/v1/analytics/metrics"))["data"] if m["custom"]]
    alpha_series = await get("/v1/analytics/series?metrics=custom.alpha_metric&compare=false")
    channel_accounts = (await get("/v1/channel-accounts"))["data"]
    conversations = (await get("/v1/conversations"))["data"]
    video_rooms = (await get("/v1/video/rooms"))["data"]
    conversation_url = f"/v1/conversations/{world.records['conversations'][0]}"
    conversation_notes = (await get(f"{conversation_url}/notes"))["data"]
    conversation_messages = (await get(f"{conversation_url}/messages"))["data"]
    opt_outs = (await get("/v1/messaging/opt-outs"))["data"]
    billing = {
        path: sorted(
            _stable(row, "id", "name", "status", "archived_at", "quantity", "total", "number")
            for row in (await get(f"/v1/billing/{path}"))["data"]
        )
        for path in ("plans", "addons", "coupons", "customers", "subscriptions", "invoices")
    }
    billing["tax_rates"] = (await get("/v1/billing/tax-rates"))["data"]
    audit = (await get("/v1/audit-log?limit=100"))["data"]
    credentials = {}
    for label, token in world.secrets.items():
        me = await get("/v1/me", auth(token))
        credentials[label] = (me["organization"]["id"], me["principal"]["id"], me["role"])
    sessions = {}
    for label in ("owner login session", "member login session"):
        listed = (await get("/v1/sessions", auth(world.secrets[label])))["data"]
        sessions[label] = sorted(s["id"] for s in listed)
    return {
        "organization": _stable(org, "name", "slug", "industry", "settings", "status"),
        "api_keys": sorted(
            _stable(k, "id", "name", "status", "allowed_ips", "scopes", "last_rotated_at")
            for k in keys
        ),
        "members": sorted(
            (m["id"], m["role"], *_stable(m["user"], "id", "first_name", "status")) for m in members
        ),
        "agent_sessions": sorted(_stable(s, "id", "status", "terminated_at") for s in agents),
        "contacts": sorted(_stable(c, "id", "name", "phone", "blocked") for c in contacts),
        "transcript": _stable(transcript, "id", "status", "segments", "word_count"),
        "calls": sorted(
            _stable(c, "id", "status", "review_rating", "analysis", "mos_score", "updated_at")
            for c in calls
        ),
        "wallets": sorted(_stable(w, "id", "balance", "held", "status") for w in wallets),
        "transactions": sorted(_stable(t, "id", "amount", "status") for t in transactions),
        "rates": sorted(_stable(r, "id", "country", "per_minute") for r in rates),
        "webhooks": sorted(
            _stable(w, "id", "url", "status", "description", "event_types") for w in webhooks
        ),
        "privacy_requests": [export, erasure],
        "retention": retention,
        "billing": billing,
        "lab_experiment": lab,
        "analytics_alert": alert,
        "custom_metrics": metrics,
        "custom_metric_total": alpha_series["series"][0]["total"],
        "bookings": sorted(
            _stable(b, "id", "service", "status", "price", "updated_at") for b in bookings
        ),
        "calendar_feeds": sorted(f["id"] for f in calendar_feeds),
        "webinars": sorted(
            _stable(w, "id", "title", "status", "capacity", "registered", "updated_at")
            for w in webinars
        ),
        "favorites": sorted(
            _stable(f, "id", "title", "folder", "usage_count", "updated_at") for f in favorites
        ),
        "suggestions": sorted(
            _stable(x, "id", "status", "score", "comment_count", "updated_at") for x in suggestions
        ),
        "personalizations": [
            _stable(p, "id", "display", "saved_prompts", "updated_at") for p in personalizations
        ],
        "webinar_registrations": sorted(
            _stable(r, "id", "status", "chat_messages", "feedback_rating", "updated_at")
            for r in registrations
        ),
        "leads": sorted(
            _stable(lead, "id", "notes", "follow_up_status", "updated_at") for lead in leads
        ),
        "publishable_keys": sorted(
            _stable(k, "id", "name", "status", "scopes", "allowed_origins")
            for k in publishable_keys
        ),
        "support_tickets": sorted(
            _stable(t, "id", "subject", "status", "assignee_id", "resolution", "updated_at")
            for t in tickets
        ),
        "ticket_thread": [m["id"] for m in thread["data"]],
        "consultations": sorted(
            _stable(c, "id", "status", "company_name", "scheduled_at", "feedback_rating")
            for c in consultations
        ),
        "career_positions": sorted(_stable(p, "id", "title", "status") for p in positions),
        "job_applications": sorted(
            _stable(j, "id", "stage", "offer_salary", "resume_size", "updated_at")
            for j in applications
        ),
        "job_interviews": sorted(_stable(i, "id", "status", "rating") for i in job_interviews),
        "channel_accounts": sorted(
            _stable(c, "id", "name", "status", "updated_at") for c in channel_accounts
        ),
        "conversations": sorted(
            _stable(c, "id", "status", "labels", "priority", "assignee_user_id", "updated_at")
            for c in conversations
        ),
        "conversation_notes": [n["id"] for n in conversation_notes],
        "conversation_messages": [m["id"] for m in conversation_messages],
        "opt_outs": sorted(o["contact_id"] for o in opt_outs),
        "video_rooms": sorted(
            _stable(
                r,
                "id",
                "status",
                "outcome",
                "rating",
                "quality_samples",
                "reconnections",
                "guest_links_revoked_at",
            )
            for r in video_rooms
        ),
        "audit_log": [entry["id"] for entry in audit],
        "credentials": credentials,
        "login_sessions": sessions,
    }


# ----------------------------------------------------------------------- tests


async def test_every_path_parameter_names_a_known_record(app: FastAPI) -> None:
    """Fails for a new route whose path parameter this walk cannot fill."""
    unknown = [
        f"{route}: {{{param}}}"
        for route in routes_of(app)
        for param in route.path_params
        if record_kind(route, param) is None and _lookup(GLOBAL_PARAMS, route.path, param) is None
    ]
    assert not unknown, (
        "These path parameters name no record the tenant walk knows. Create a record of "
        "that kind in organization A (build_world) and map it in RECORD_PARAMS, or list a "
        "parameter that names no tenant's data in GLOBAL_PARAMS:\n  " + "\n  ".join(unknown)
    )


async def test_second_organization_cannot_read_change_or_detect_the_firsts_records(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    before = await state_of_a(client, world)
    failures: list[str] = []
    walked = 0

    for route in routes_of(app):
        if not route.path_params or route.public:
            continue
        for real_path, unknown_path in path_candidates(route, world):
            walked += 1
            answers: dict[str, httpx.Response] = {}
            for label, headers in world.b_credentials.items():
                response = await client.request(
                    route.method, real_path, json=route.body, headers=headers
                )
                baseline = await client.request(
                    route.method, unknown_path, json=route.body, headers=headers
                )
                answers[label] = response
                where = f"{route.method} {real_path} with {label}"
                if response.status_code == 422:
                    break  # reported once for the route, below
                if response.status_code < 400 or response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code} {response.text}")
                elif not response.headers.get("content-type", "").startswith(PROBLEM):
                    failures.append(f"{where}: not problem+json: {response.text}")
                elif problem_key(response) != problem_key(baseline):
                    failures.append(
                        f"{where}: answers {problem_key(response)} but an id that never "
                        f"existed gets {problem_key(baseline)} -- the record is detectable"
                    )
            if any(r.status_code == 422 for r in answers.values()):
                failures.append(
                    f"{route}: 422 before the lookup; "
                    + (
                        "add a valid body for it to EXAMPLE_BODIES"
                        if route.body is None
                        else "its EXAMPLE_BODIES entry no longer validates"
                    )
                    + f": {next(r for r in answers.values() if r.status_code == 422).text}"
                )
                continue
            if not any(r.status_code == 404 for r in answers.values()):
                failures.append(
                    f"{route.method} {real_path}: no credential of B reached the lookup "
                    f"(no 404): {[problem_key(r) for r in answers.values()]}"
                )
            # An owner's login session holds every scope and acts as a user: it always
            # reaches the lookup, so anything but 404 is a leak or a refusal that tells.
            session = answers["B's owner login session"]
            if session.status_code != 404:
                failures.append(
                    f"{route.method} {real_path} with B's owner login session: expected 404, "
                    f"got {problem_key(session)}"
                )

    assert walked >= 10, f"the walk reached only {walked} record routes"
    assert not failures, "Another organization's records answered:\n  " + "\n  ".join(failures)
    assert await state_of_a(client, world) == before, "B's requests changed A's records"


async def test_routes_without_ids_show_the_second_organization_nothing_of_the_first(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    before = await state_of_a(client, world)
    failures: list[str] = []

    for route in routes_of(app):
        if route.path_params and not route.public:
            continue
        if route.public and route.method != "GET":
            continue
        path = route.path
        for param in route.path_params:
            path = path.replace(f"{{{param}}}", _lookup(GLOBAL_PARAMS, path, param) or "x")
        # Reads with every kind of B's credential; writes with B's key only (a write
        # such as logout would end the session the other checks use).
        credentials = (
            world.b_credentials
            if route.method == "GET"
            else {"B's owner API key": world.b_credentials["B's owner API key"]}
        )
        example = EXAMPLE_QUERIES.get((route.method, route.path), {})
        queries: list[dict[str, str]] = [example]
        for name in route.query_params:
            kind = RECORD_QUERIES.get(name)
            if kind is not None:
                queries += [{**example, name: value} for value in world.records[kind]]
        for label, headers in credentials.items():
            for query in queries:
                response = await client.request(
                    route.method, path, params=query, json=route.body, headers=headers
                )
                where = f"{route.method} {path} {query or ''} with {label}"
                if response.status_code == 422 and route.body is None:
                    failures.append(f"{where}: 422; add a valid body to EXAMPLE_BODIES")
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code} {response.text}")
                leaked = [m for m in world.markers if m in response.text]
                if leaked:
                    failures.append(f"{where}: shows A's {leaked}")

    assert not failures, "\n  ".join(["B saw A's data:", *failures])
    assert await state_of_a(client, world) == before, "B's requests changed A's records"


async def test_ids_inside_bodies_stay_within_the_organization(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A record of A named in B's request body is as unknown as one never created."""
    world = await build_world(app, client)
    before = await state_of_a(client, world)
    member_user = world.records["users"][1]
    answers = []
    for user_id in (member_user, _never_existed(member_user)):
        answers.append(
            await client.post(
                "/v1/agent-sessions",
                json={
                    "session_type": "authenticated",
                    "user_id": user_id,
                    "agent_context": {"agent_id": "bravo-bot"},
                },
                headers=world.b.headers,
            )
        )
    assert answers[0].status_code == 404, answers[0].text
    assert problem_key(answers[0]) == problem_key(answers[1])
    # Signing in to A's organization with B's owner's password does not open A.
    response = await client.post(
        "/v1/auth/login",
        json={"email": world.b.owner_email, "password": PASSWORD, "organization": world.a.slug},
    )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert not [m for m in world.markers if m in response.text]
    assert await state_of_a(client, world) == before


async def test_adding_a_user_by_email_reveals_nothing_of_another_organization(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An email that has an account in A is answered to B exactly as an email nobody
    has: an invitation showing only what B submitted. B sees nothing of A's user,
    nor gains a way to edit or suspend that account."""
    world = await build_world(app, client)
    member_user = world.records["users"][1]
    member_email = world.records["emails"][1]
    before = await state_of_a(client, world)
    known = await client.post(
        "/v1/users", json={"email": member_email, "role": "viewer"}, headers=world.b.headers
    )
    unknown = await client.post(
        "/v1/users",
        json={"email": "nobody.yet@bravo.example", "role": "viewer"},
        headers=world.b.headers,
    )
    assert known.status_code == unknown.status_code == 201, known.text

    def shape(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
        body = dict(response.json())
        invitation = {**body.pop("invitation"), "email": None}
        return {k: v for k, v in body.items() if k not in ("id", "created_at")}, invitation

    assert shape(known) == shape(unknown)
    assert known.json()["invitation"]["email"] == member_email
    assert member_user not in known.text
    # B's answer echoes the email B typed, and nothing else of A.
    echoed = known.text.replace(member_email, "")
    assert not [m for m in world.markers if m in echoed]
    for path in ("/v1/members?limit=100", "/v1/users?limit=100", "/v1/audit-log?limit=100"):
        listed = await client.get(path, headers=world.b.headers)
        assert listed.status_code == 200, path
        assert member_user not in listed.text, path
    assert await state_of_a(client, world) == before


async def test_every_private_route_demands_credentials(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    failures: list[str] = []
    for route in routes_of(app):
        path = route.path
        for param in route.path_params:
            kind = record_kind(route, param)
            value = world.records[kind][0] if kind else _lookup(GLOBAL_PARAMS, path, param)
            path = path.replace(f"{{{param}}}", value or "x")
        for label, headers in (("no Authorization", {}), ("a malformed token", auth("nope"))):
            response = await client.request(route.method, path, json=route.body, headers=headers)
            problem = response.headers.get("content-type", "").startswith(PROBLEM)
            kind = response.json().get("type") if problem else None
            where = f"{route.method} {path} with {label}"
            if route.public:
                # Login refuses the example's wrong password; every other public route
                # must answer without asking for credentials.
                refused = kind in (
                    "/problems/authentication-required",
                    "/problems/invalid-credentials",
                )
                # Provider callbacks refuse what their signature does not cover (see
                # the tests below).
                expected = {("POST", "/v1/auth/login")} | SIGNED | PASSWORD_CHECKED | TOKEN_IN_BODY
                if refused and (route.method, route.path) not in expected:
                    failures.append(f"{where}: listed in PUBLIC but answers {kind}")
                continue
            if response.status_code != 401 or not problem:
                failures.append(
                    f"{where}: expected a 401 problem, got {response.status_code} "
                    f"{response.text[:200]} (if this route is meant to be public, add "
                    f"({route.method!r}, {route.path!r}) to PUBLIC)"
                )
            elif response.json()["status"] != 401:
                failures.append(f"{where}: problem body says status {response.json()['status']}")
    assert not failures, "\n  ".join(["Routes that answer without credentials:", *failures])


ACCOUNT_ANSWERS = {
    ("POST", "/v1/auth/signup"): 403,  # COMMBASE_SIGNUP_MODE is invite_only by default
    ("POST", "/v1/auth/verify-email"): 400,
    ("POST", "/v1/auth/password-reset"): 202,
    ("POST", "/v1/auth/password-reset/confirm"): 400,
    ("POST", "/v1/auth/invitations/accept"): 400,
    ("POST", "/v1/auth/two-factor/setup"): 401,  # the example's wrong password
    ("POST", "/v1/auth/two-factor/activate"): 401,
    ("POST", "/v1/auth/two-factor/disable"): 401,
    ("POST", "/v1/auth/external"): 400,  # no provider of that name is configured
    ("POST", "/v1/video/guest/join"): 401,  # the example's made-up guest link
}


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
async def test_public_routes_answer_without_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    if (method, path) == ("GET", "/v1/calendars/{feed_token}.ics"):
        pytest.skip("needs a feed's secret: tests/engagement/test_bookings.py reads one")
    path = path.replace("{code}", "not-found")
    body = EXAMPLE_BODIES.get((method, path))
    response = await client.request(method, path, json=body)
    if (method, path) == ("POST", "/v1/auth/login"):
        assert response.status_code == 401, response.text  # wrong password, but it was heard
        assert response.json()["type"] == "/problems/invalid-credentials"
    elif (method, path) in ACCOUNT_ANSWERS:
        # Account routes: heard without credentials, refusing the example's made-up
        # token (or, sign-up, closed by default) with their own answer.
        assert response.status_code == ACCOUNT_ANSWERS[(method, path)], response.text
    else:
        assert response.status_code == 200, response.text


async def test_job_runs_stay_within_the_organization(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A's runs of a job (and their errors) are not B's to see; B runs only for B."""
    world = await build_world(app, client)
    a_run = await client.post("/v1/jobs/privacy.retention/runs", headers=world.a.headers)
    assert a_run.status_code == 201, a_run.text
    for label, headers in world.b_credentials.items():
        if label == "B's agent session":
            continue  # agents hold no jobs:run scope
        for path in ("/v1/jobs", "/v1/jobs/privacy.retention/runs"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, f"{path} with {label}: {response.text}"
            assert a_run.json()["id"] not in response.text, f"{path} with {label}"
            assert world.a.org_id not in response.text


# ------------------------------------------------------------- provider callbacks

TWILIO_TOKEN = "twilio-auth-token-for-tests"
STRIPE_SECRET = "whsec_tenant_isolation_secret"
CONFIGURED = {
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": TWILIO_TOKEN,
    "stripe_webhook_secret": STRIPE_SECRET,
}
TWILIO_PATH = "/v1/providers/twilio/voice/status"
STRIPE_PATH = "/v1/providers/stripe/webhook"
FORM = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}
STRIPE_EVENT = json.dumps({"id": "evt_1", "object": "event", "type": "ping", "data": {}})
# What each provider answers a request its signature does not cover.
REFUSAL = {
    TWILIO_PATH: (401, "authentication-required"),
    "/v1/providers/twilio/voice/inbound": (401, "authentication-required"),
    "/v1/providers/twilio/voice/recording": (401, "authentication-required"),
    STRIPE_PATH: (400, "invalid-request"),
    "/v1/providers/paypal/webhook": (400, "invalid-request"),
    "/v1/providers/cashfree/webhook": (400, "invalid-request"),
}


def _twilio_signature(settings: Settings, params: dict[str, str]) -> str:
    url = settings.public_base_url.rstrip("/") + TWILIO_PATH
    signature: str = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return signature


def _stripe_signature(payload: str, secret: str = STRIPE_SECRET) -> str:
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signature}"


def test_every_provider_callback_is_covered() -> None:
    assert {path for _, path in SIGNED} == set(REFUSAL)


@pytest.mark.parametrize(("method", "path"), sorted(SIGNED))
async def test_unsigned_provider_callbacks_are_refused_when_not_configured(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """An unsigned callback gets the refusal it gets when the provider is configured:
    whether a provider is set up is not the caller's business, nor a reason to retry."""
    status, code = REFUSAL[path]
    response = await client.request(method, path, data=FORM)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == f"/problems/{code}"


@pytest.mark.parametrize(("method", "path"), sorted(SIGNED))
async def test_signed_provider_callbacks_are_unavailable_until_configured(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """With no secret to check a signature against, nothing signed gets in either."""
    signed = {
        "X-Twilio-Signature": "x",
        "Stripe-Signature": "t=1,v1=x",
        "x-webhook-signature": "x",
        "x-webhook-timestamp": "1",
        **{
            f"paypal-{name}": "x"
            for name in ("auth-algo", "cert-url", "transmission-id", "transmission-sig")
        },
        "paypal-transmission-time": "2026-11-28T15:45:13Z",
    }
    response = await client.request(method, path, data=FORM, headers=signed)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "/problems/service-unavailable"


async def test_configured_provider_callbacks_refuse_what_their_signature_does_not_cover(
    database_url: str, redis_url: str | None
) -> None:
    settings = make_settings(database_url, redis_url, **CONFIGURED)
    async with running_app(settings) as app, client_for(app) as client:
        answers = {
            "twilio unsigned": await client.post(TWILIO_PATH, data=FORM),
            "twilio signed with another token": await client.post(
                TWILIO_PATH,
                data=FORM,
                headers={
                    "X-Twilio-Signature": RequestValidator("other").compute_signature(
                        settings.public_base_url + TWILIO_PATH, FORM
                    )
                },
            ),
            "twilio signature of other values": await client.post(
                TWILIO_PATH,
                data={**FORM, "CallStatus": "failed"},
                headers={"X-Twilio-Signature": _twilio_signature(settings, FORM)},
            ),
            "stripe unsigned": await client.post(
                STRIPE_PATH, content=STRIPE_EVENT, headers={"Content-Type": "application/json"}
            ),
            "stripe signed with another secret": await client.post(
                STRIPE_PATH,
                content=STRIPE_EVENT,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": _stripe_signature(STRIPE_EVENT, "whsec_other"),
                },
            ),
        }
        # The same requests, signed as the providers sign them, are heard: the refusals
        # above are the signatures' doing. Twilio posts a form, which a JSON-only rule
        # must not refuse.
        twilio_signed = await client.post(
            TWILIO_PATH,
            data=FORM,
            headers={"X-Twilio-Signature": _twilio_signature(settings, FORM)},
        )
        stripe_signed = await client.post(
            STRIPE_PATH,
            content=STRIPE_EVENT,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": _stripe_signature(STRIPE_EVENT),
            },
        )

    for label, response in answers.items():
        path = TWILIO_PATH if label.startswith("twilio") else STRIPE_PATH
        status, code = REFUSAL[path]
        assert response.status_code == status, f"{label}: {response.text}"
        assert response.headers["content-type"].startswith(PROBLEM), label
        assert response.json()["type"] == f"/problems/{code}", label
    assert twilio_signed.status_code == 204, twilio_signed.text
    assert stripe_signed.status_code == 200, stripe_signed.text
