"""Typed configuration read from the environment (prefix ``COMMBASE_``)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "commbase-insecure-development-secret-change-me"  # noqa: S105

MIN_METRICS_TOKEN = 16

DEFAULT_TIERS: dict[str, dict[str, int]] = {
    "free": {"limit": 60, "window_s": 60},
    "standard": {"limit": 600, "window_s": 60},
    "premium": {"limit": 3000, "window_s": 60},
    "enterprise": {"limit": 12000, "window_s": 60},
}


class OidcProvider(BaseModel):
    """An identity provider whose ID tokens sign people in (``provider`` = ``name``)."""

    name: str = Field(min_length=1, max_length=40)
    issuer: str
    audience: str
    jwks_url: str


class Settings(BaseSettings):
    """Everything commbase reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="COMMBASE_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./commbase.db"
    redis_url: str | None = None
    # PostgreSQL streaming replicas (comma-separated URLs) for analytics reads and large
    # lists (core.replicas); a read waits at most max_lag_ms for a replica to replay
    # what the primary has committed, then the primary serves it.
    database_replica_urls: str = ""
    database_replica_max_lag_ms: int = Field(default=50, ge=0, le=60_000)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)

    # Reverse proxies whose X-Forwarded-For / geo headers are believed (CIDRs).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    country_header: str = "CF-IPCountry"
    city_header: str = "CF-IPCity"
    cors_origins: list[str] = Field(default_factory=list)

    max_body_bytes: int = 5 * 1024 * 1024
    login_session_ttl_s: int = 30 * 24 * 3600
    agent_session_ttl_s: int = 6 * 3600
    api_key_rotation_grace_s: int = 24 * 3600
    idempotency_ttl_s: int = 24 * 3600
    principal_cache_ttl_s: int = 30
    # Each process writes its credential usage counts this often (and when it stops).
    usage_flush_s: float = Field(default=5.0, gt=0)
    # How long a request waits on Redis before the breaker treats it as away.
    redis_timeout_s: float = Field(default=0.5, gt=0, le=30)

    rate_limit_tiers: dict[str, dict[str, int]] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    session_rate_limit: int = 600  # per minute, login and agent sessions
    # The organization (id or slug) whose live subscriptions set others' account
    # types (plan feature "account_type:<type>"); unset: only the stored types apply.
    account_type_seller: str | None = None
    anonymous_rate_limit: int = 120  # per minute per IP
    login_ip_limit: int = 20  # attempts per 15 minutes per IP
    login_email_limit: int = 10  # attempts per 15 minutes per email

    # Accounts (sign-up, invitations, password reset) and their email.
    # open: anyone signs up; invite_only: accounts come from invitations; closed:
    # only the operator creates accounts (an invitation joins an existing account).
    signup_mode: Literal["open", "invite_only", "closed"] = "invite_only"
    # Links in account emails point here (the frontend's pages); default public_base_url.
    account_link_base_url: str | None = None
    email_verification_ttl_s: int = Field(default=48 * 3600, ge=60, le=30 * 24 * 3600)
    invitation_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    password_reset_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    account_email_limit: int = 5  # account emails per hour per address (sign-up, reset)
    # SMTP; without a host, mail is written to email_dir and logged (development).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    email_from: str = "commbase <no-reply@localhost>"
    email_dir: str = "./data/emails"
    # External sign-in: ID tokens of these OIDC providers (a JSON list), and Firebase's
    # when a project id is set (provider "firebase"); keys come from each JWKS URL.
    oidc_providers: list[OidcProvider] = Field(default_factory=list)
    firebase_project_id: str | None = None
    # An ID token signed with an unknown key id refetches the JWKS at most this often.
    jwks_refetch_min_s: float = Field(default=60.0, ge=0, le=3600)

    # Calls and billing.
    call_provider: Literal["simulator", "twilio"] = "simulator"
    simulator_speed: float = Field(default=1.0, gt=0, le=1000)
    public_base_url: str = "http://127.0.0.1:8000"  # what carriers call back
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Test credentials (cb_test_ keys) and test wallets pay through Stripe's test
    # mode with this key only (sk_test_/rk_test_), never with stripe_api_key.
    stripe_test_api_key: SecretStr | None = None
    stripe_test_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"  # e.g. a local stripe-mock
    # PayPal (Orders v2) and Cashfree (PG 2023-08-01): billing.providers.
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    paypal_webhook_id: str | None = None  # the id PayPal gave our webhook (verification)
    paypal_api_base: str = "https://api-m.paypal.com"  # sandbox: https://api-m.sandbox.paypal.com
    cashfree_client_id: str | None = None
    cashfree_client_secret: SecretStr | None = None  # also signs Cashfree's webhooks
    cashfree_api_base: str = "https://api.cashfree.com"  # sandbox: https://sandbox.cashfree.com
    cashfree_webhook_tolerance_s: int = Field(default=300, ge=10, le=3600)
    default_rate_per_minute: Decimal = Decimal("0.125")
    default_rate_currency: str = "USD"  # the currency of default_rate_per_minute
    # Inbound calls (calls.inbound): per minute, in default_rate_currency, unless the
    # answering phone number sets its own inbound_rate_per_minute.
    inbound_rate_per_minute: Decimal = Field(default=Decimal("0.0085"), ge=0, le=1000)
    max_call_duration_s: int = 3600
    transcript_retention_days: int = 30

    # Video rooms (calls.video): ICE servers handed to browsers, TURN credentials in
    # the REST API for TURN scheme (coturn's use-auth-secret / static-auth-secret).
    # JSON lists in the environment, e.g. '["stun:stun.example.com:3478"]'.
    video_stun_urls: list[str] = Field(default_factory=list)
    video_turn_urls: list[str] = Field(default_factory=list)
    video_turn_secret: SecretStr | None = None
    video_turn_ttl_s: int = Field(default=3600, ge=60, le=24 * 3600)
    video_guest_link_ttl_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    video_access_token_ttl_s: int = Field(default=4 * 3600, ge=60, le=24 * 3600)
    # A participant whose socket stays closed this long has left (the sweeper).
    video_reconnect_grace_s: int = Field(default=60, ge=5, le=3600)
    # What a video room costs per minute, in default_rate_currency.
    video_rate_per_minute: Decimal = Field(default=Decimal("0.05"), ge=0, le=1000)
    # The SFU for rooms of mode "sfu" (LiveKit): its wss:// URL and API key/secret.
    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None

    # Webhooks.
    webhooks_allow_private_urls: bool = False  # development only: lets URLs reach 127.0.0.1
    webhook_timeout_s: float = 15.0
    webhook_disable_after_failures: int = 10  # consecutive deliveries that exhausted retries
    webhook_payload_retention_days: int = 90
    webhook_worker_concurrency: int = 32

    # Analytics tracking.
    track_max_batch: int = Field(default=1000, ge=1, le=10_000)  # events per POST /v1/track/events

    # Analytics engine: rollups fold facts older than the lag; results are cached
    # under a key that changes with the data, the TTL only bounds memory.
    analytics_rollup_lag_s: int = Field(default=60, ge=0, le=3600)
    analytics_cache_ttl_s: int = Field(default=300, ge=0)

    # Engagement records: how long before a booking's start ``booking.reminder_due`` is
    # announced; the lead scores at or above which a lead is hot, or warm.
    booking_reminder_lead_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    lead_hot_score: int = Field(default=70, ge=1, le=100)
    lead_warm_score: int = Field(default=40, ge=0, le=100)
    # Careers: where uploaded resumes are stored (a folder per organization), their
    # largest size and the media types accepted.
    careers_resume_dir: str = "./data/resumes"
    careers_resume_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    careers_resume_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ]
    )

    # Operator surfaces. The API documentation (/docs, /redoc, /openapi.json) is served
    # unless turned off; unset, it is on except when COMMBASE_ENV=production.
    docs_enabled: bool | None = None
    # /metrics answers only requests bearing this token (Authorization: Bearer ...).
    # Unset, /metrics is open in development and test, and off (404) in production.
    metrics_token: SecretStr | None = None

    run_jobs: bool = True  # run the scheduler inside the API process
    # A serving process's start-up builds what first requests would (routes, templates,
    # every dashboard page's SQL: commbase.warmup), for at most warmup_timeout_s.
    warmup: bool = True
    warmup_timeout_s: float = Field(default=10.0, gt=0, le=300)
    job_tick_s: float = 15.0
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env == "production" and (secret == DEFAULT_SECRET_KEY or len(secret) < 32):
            raise ValueError(
                "COMMBASE_SECRET_KEY must be set to a random value of 32+ characters "
                "when COMMBASE_ENV=production"
            )
        return self

    @field_validator("metrics_token", mode="after")
    @classmethod
    def _strong_metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_METRICS_TOKEN:
            raise ValueError(
                f"COMMBASE_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} characters"
            )
        return token

    @field_validator("stripe_test_api_key", mode="after")
    @classmethod
    def _sandbox_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not key.get_secret_value().startswith(("sk_test_", "rk_test_")):
            raise ValueError("COMMBASE_STRIPE_TEST_API_KEY must be a Stripe test key (sk_test_...)")
        return key

    @field_validator("rate_limit_tiers", mode="after")
    @classmethod
    def _complete_tiers(cls, tiers: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        # COMMBASE_RATE_LIMIT_TIERS__PREMIUM__LIMIT=5000 changes one number, not the table.
        merged = {name: dict(rule) for name, rule in DEFAULT_TIERS.items()}
        for name, rule in tiers.items():
            merged.setdefault(name, {}).update(rule)
        for name, rule in merged.items():
            if set(rule) != {"limit", "window_s"} or min(rule.values()) < 1:
                raise ValueError(f"rate limit tier {name!r} needs a positive limit and window_s")
        return merged

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def serves_docs(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served."""
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.env != "production"

    @property
    def replica_urls(self) -> list[str]:
        """``database_replica_urls`` split on commas, blanks dropped."""
        return [url.strip() for url in self.database_replica_urls.split(",") if url.strip()]

    @property
    def metrics_open(self) -> bool:
        """Whether /metrics answers without a token (no token set, not in production)."""
        return self.metrics_token is None and self.env != "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
