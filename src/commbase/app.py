"""``create_app(settings)``: the FastAPI application with every domain mounted."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from commbase import __version__
from commbase import models as _models  # noqa: F401  (registers every table)
from commbase.analytics import jobs as _analytics_jobs  # noqa: F401  (registers its jobs)
from commbase.analytics.alerts.routes import router as alerts_router
from commbase.analytics.api_outcomes import OutcomeCounter, OutcomeMiddleware
from commbase.analytics.live_routes import router as analytics_live_router
from commbase.analytics.routes import router as analytics_router
from commbase.billing.catalog.routes import router as billing_catalog_router
from commbase.billing.customers.routes import router as billing_customers_router
from commbase.billing.documents.routes import router as billing_documents_router
from commbase.billing.invoices.routes import router as billing_invoices_router
from commbase.billing.licenses.routes import router as billing_licenses_router
from commbase.billing.providers.routes import router as billing_providers_router
from commbase.billing.revenue.routes import router as billing_revenue_router
from commbase.billing.routes import router as billing_router
from commbase.billing.subscriptions import jobs as _billing_jobs  # noqa: F401  (registers its jobs)
from commbase.billing.subscriptions.routes import router as billing_subscriptions_router
from commbase.billing.transactions.routes import router as billing_transactions_router
from commbase.calls import jobs as _calls_jobs  # noqa: F401  (registers its jobs)
from commbase.calls.inbound.routes import router as inbound_calls_router
from commbase.calls.live.routes import router as live_calls_router
from commbase.calls.phone_numbers.routes import router as phone_numbers_router
from commbase.calls.recordings.routes import router as recordings_router
from commbase.calls.routes import router as calls_router
from commbase.calls.simulation import SimulatorRunner
from commbase.calls.transcripts.routes import router as transcripts_router
from commbase.calls.video.routes import router as video_router
from commbase.calls.video.signalling import router as video_signalling_router
from commbase.contacts.routes import router as contacts_router
from commbase.core.breaker import RedisBreaker
from commbase.core.cache import Cache, MemoryCache, RedisCache
from commbase.core.db import Database
from commbase.core.effects import EffectRunner
from commbase.core.http import RequestContextMiddleware, json_bodies_only
from commbase.core.idempotency import IdempotencyMiddleware
from commbase.core.jobs import JobContext, Scheduler
from commbase.core.leases import DatabaseLease, Lease, RedisLease
from commbase.core.logging import configure_logging, logs_info
from commbase.core.problems import document_problems, install_problem_handlers
from commbase.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from commbase.core.readonly import ReadRequestMiddleware
from commbase.core.replicas import replicas_for
from commbase.core.route_index import skip_unmatchable_routers
from commbase.core.routes import router as core_router
from commbase.core.time import utcnow
from commbase.engagement.bookings import jobs as _bookings_jobs  # noqa: F401  (registers its jobs)
from commbase.engagement.bookings.intake_routes import router as bookings_intake_router
from commbase.engagement.bookings.routes import feeds_router as calendar_feeds_router
from commbase.engagement.bookings.routes import router as bookings_router
from commbase.engagement.careers.intake_routes import router as careers_intake_router
from commbase.engagement.careers.routes import router as careers_router
from commbase.engagement.comments.routes import router as comments_router
from commbase.engagement.consultations.intake_routes import router as consultations_intake_router
from commbase.engagement.consultations.routes import router as consultations_router
from commbase.engagement.favorites.routes import router as favorites_router
from commbase.engagement.intake.cors import IntakeCorsMiddleware
from commbase.engagement.lab.routes import router as lab_router
from commbase.engagement.leads import jobs as _leads_jobs  # noqa: F401  (registers its jobs)
from commbase.engagement.leads.intake_routes import router as leads_intake_router
from commbase.engagement.leads.routes import router as leads_router
from commbase.engagement.personalizations.routes import router as personalizations_router
from commbase.engagement.suggestions.intake_routes import router as suggestions_intake_router
from commbase.engagement.suggestions.routes import router as suggestions_router
from commbase.engagement.support import jobs as _support_jobs  # noqa: F401  (registers its jobs)
from commbase.engagement.support.intake_routes import router as support_intake_router
from commbase.engagement.support.routes import router as support_router
from commbase.engagement.support.sla_routes import router as support_sla_router
from commbase.engagement.webinars.intake_routes import router as webinars_intake_router
from commbase.engagement.webinars.routes import registrations_router as webinar_registrations_router
from commbase.engagement.webinars.routes import router as webinars_router
from commbase.identity import jobs as identity_jobs
from commbase.identity.agent_sessions.routes import router as agent_sessions_router
from commbase.identity.api_keys.routes import router as api_keys_router
from commbase.identity.authentication import TokenAuthenticator
from commbase.identity.email import effects as _account_email  # noqa: F401  (registers the mailer)
from commbase.identity.external.routes import router as external_router
from commbase.identity.invitations.routes import router as invitations_router
from commbase.identity.members.routes import router as members_router
from commbase.identity.password_reset.routes import router as password_reset_router
from commbase.identity.publishable_keys.routes import router as publishable_keys_router
from commbase.identity.routes import router as identity_router
from commbase.identity.sessions.routes import router as sessions_router
from commbase.identity.signup.routes import router as signup_router
from commbase.identity.two_factor.routes import router as two_factor_router
from commbase.identity.usage import UsageTracker
from commbase.messaging.accounts.routes import router as channel_accounts_router
from commbase.messaging.campaigns.routes import router as campaigns_router
from commbase.messaging.campaigns.runner import CampaignRunner
from commbase.messaging.campaigns.sending import provider_sender
from commbase.messaging.intake import IntakeRunner
from commbase.messaging.providers.accepting import Accepting
from commbase.messaging.providers.routes import router as whatsapp_router
from commbase.messaging.reports.routes import router as messaging_reports_router
from commbase.messaging.routes import messages_router, opt_outs_router
from commbase.messaging.routes import router as conversations_router
from commbase.messaging.simulation import MessagingSimulatorRunner
from commbase.privacy import jobs as _privacy_jobs  # noqa: F401  (registers its jobs)
from commbase.privacy.routes import router as privacy_router
from commbase.settings import Settings, get_settings
from commbase.tracking.routes import router as tracking_router
from commbase.warmup import warm_up_served
from commbase.web.api import ApiRefused, refused_response
from commbase.web.routes import router as dashboard_router
from commbase.web.templating import environment as dashboard_templates
from commbase.web.video import router as video_pages_router
from commbase.webhooks.dispatcher import Dispatcher
from commbase.webhooks.routes import router as webhooks_router

log = structlog.get_logger("commbase.app")

API_DESCRIPTION = """
commbase is a self-hosted backend for businesses that talk to their customers by
voice, video and chat.

Authenticate with `Authorization: Bearer <token>`: an API key (`cb_live_...`,
`cb_test_...`), a login session token from `POST /v1/auth/login` (`cb_sess_...`)
or an agent session token (`cb_agt_...`).

Errors are RFC 9457 `application/problem+json`; `GET /problems` lists every type.
Lists are cursor-paginated (`limit`, `cursor` -> `{"data": [...], "next_cursor": ...}`).
POST requests accept `Idempotency-Key`.
"""


def _backends(
    settings: Settings, database: Database
) -> tuple[Redis | None, RedisBreaker | None, Cache, RateLimiter, Lease]:
    if settings.redis_url:
        # A request never waits long on Redis: short timeouts, one immediate retry
        # (for a connection Redis closed when it restarted), then the breaker skips
        # Redis and everything falls back in-process until it answers (core.breaker).
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        breaker = RedisBreaker(redis, open_s=1.0)
        return (
            redis,
            breaker,
            # A hot credential costs no round trip; revocations reach every
            # process through Redis pub/sub (at worst 5 s late if one is lost).
            RedisCache(redis, local_ttl_s=5.0, breaker=breaker),
            RedisRateLimiter(redis, breaker=breaker),
            RedisLease(redis, breaker=breaker),
        )
    return None, None, MemoryCache(), MemoryRateLimiter(), DatabaseLease(database)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; nothing connects until the first request or startup."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    database = Database(settings.database_url)
    replicas = replicas_for(
        settings.replica_urls,
        dialect=database.dialect,
        max_lag_ms=settings.database_replica_max_lag_ms,
    )
    redis, breaker, cache, limiter, lease = _backends(settings, database)
    usage = UsageTracker(database, flush_every_s=settings.usage_flush_s)
    outcomes = OutcomeCounter(database, flush_every_s=settings.usage_flush_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await cache.start()
        await usage.start()
        await outcomes.start()
        scheduler_task: asyncio.Task[None] | None = None
        scheduler: Scheduler | None = None
        if settings.run_jobs:
            scheduler = Scheduler(
                database, lease, tick_s=settings.job_tick_s, services=app.state.job_services
            )
            scheduler_task = asyncio.create_task(scheduler.run_forever())
        simulator: SimulatorRunner | None = None
        simulator_task: asyncio.Task[None] | None = None
        # Test-mode calls use the simulator whatever COMMBASE_CALL_PROVIDER says.
        if settings.run_jobs:
            simulator = SimulatorRunner(database)
            simulator_task = asyncio.create_task(simulator.run_forever())
        messaging_simulator: MessagingSimulatorRunner | None = None
        messaging_simulator_task: asyncio.Task[None] | None = None
        intake: IntakeRunner | None = None
        intake_task: asyncio.Task[None] | None = None
        if settings.run_jobs:
            messaging_simulator = MessagingSimulatorRunner(database)
            messaging_simulator_task = asyncio.create_task(messaging_simulator.run_forever())
            # WhatsApp notifications the webhook stored, filed in batches.
            intake = IntakeRunner(database)
            intake_task = asyncio.create_task(intake.run_forever())
        dispatcher: Dispatcher | None = None
        dispatcher_task: asyncio.Task[None] | None = None
        effects: EffectRunner | None = None
        effects_task: asyncio.Task[None] | None = None
        if settings.run_jobs:
            dispatcher = Dispatcher(database, settings)
            dispatcher_task = asyncio.create_task(dispatcher.run_forever())
            effects = EffectRunner(database, services=app.state.job_services)
            effects_task = asyncio.create_task(effects.run_forever())
        campaigns: CampaignRunner | None = None
        campaigns_task: asyncio.Task[None] | None = None
        if settings.run_jobs:
            campaigns = CampaignRunner(
                database,
                provider_sender(
                    server_secret=settings.secret_key.get_secret_value(),
                    services=app.state.job_services,
                ),
            )
            campaigns_task = asyncio.create_task(campaigns.run_forever())
        try:
            yield
        finally:
            if campaigns is not None and campaigns_task is not None:
                campaigns.stop()
                await campaigns_task
            if simulator is not None and simulator_task is not None:
                simulator.stop()
                await simulator_task
            if messaging_simulator is not None and messaging_simulator_task is not None:
                messaging_simulator.stop()
                await messaging_simulator_task
            if intake is not None and intake_task is not None:
                intake.stop()
                await intake_task
            if effects is not None and effects_task is not None:
                effects.stop()
                await effects_task
            if dispatcher is not None and dispatcher_task is not None:
                dispatcher.stop()
                await dispatcher_task
                await dispatcher.close()
            try:
                if scheduler is not None and scheduler_task is not None:
                    try:
                        await scheduler.stop()
                    finally:
                        scheduler_task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await scheduler_task
                # Counted usage is written before the process goes.
                await usage.close()
                await identity_jobs.flush_usage_now(
                    JobContext(
                        database=database,
                        now=utcnow(),
                        run_id="shutdown",
                        services=app.state.job_services,
                    )
                )
            except Exception as exc:
                # A dependency that is down must not keep the rest from closing;
                # the counts not written go with the process.
                log.error(
                    "shutdown could not write usage",
                    error=str(exc),
                    unwritten=sum(u.count for u in usage.pending().values()),
                )
            try:
                await outcomes.close()
            except Exception as exc:
                log.error("shutdown could not write API outcomes", error=str(exc))
            notifier = getattr(app.state, "dashboard_notifier", None)
            if notifier is not None:
                await notifier.close()
            await cache.close()
            if breaker is not None:
                await breaker.close()
            if redis is not None:
                await redis.aclose()
            if replicas is not None:
                await replicas.dispose()
            await app.state.whatsapp_accepting.close()
            await database.dispose()

    docs = settings.serves_docs
    app = FastAPI(
        title="commbase",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # Off by default in production (COMMBASE_DOCS_ENABLED turns them on or off).
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        # A body sent to a route that reads JSON must be JSON (415 otherwise).
        dependencies=[Depends(json_bodies_only)],
    )
    document_problems(app)
    app.state.settings = settings
    app.state.db = database
    # The WhatsApp webhook's remembered app secrets and one-statement insert.
    app.state.whatsapp_accepting = Accepting(
        database, server_secret=settings.secret_key.get_secret_value()
    )
    app.state.replicas = replicas  # None without COMMBASE_DATABASE_REPLICA_URLS
    app.state.redis = redis
    app.state.redis_breaker = breaker  # None without Redis; .available is False while away
    app.state.cache = cache
    app.state.rate_limiter = limiter
    app.state.lease = lease
    app.state.usage = usage
    app.state.api_outcomes = outcomes
    app.state.authenticator = TokenAuthenticator(settings=settings, cache=cache, usage=usage)
    app.state.job_services = {"usage": usage, "cache": cache, "settings": settings}

    install_problem_handlers(app)
    app.add_exception_handler(ApiRefused, refused_response)
    # First: Meta's webhook is the busiest route, and routes are matched in order.
    app.include_router(whatsapp_router)
    app.include_router(core_router)
    app.include_router(sessions_router)
    app.include_router(signup_router)
    app.include_router(invitations_router)
    app.include_router(password_reset_router)
    app.include_router(two_factor_router)
    app.include_router(external_router)
    app.include_router(identity_router)
    app.include_router(members_router)
    app.include_router(api_keys_router)
    app.include_router(agent_sessions_router)
    app.include_router(publishable_keys_router)
    app.include_router(contacts_router)
    app.include_router(billing_router)
    app.include_router(billing_catalog_router)
    app.include_router(billing_customers_router)
    app.include_router(billing_subscriptions_router)
    app.include_router(billing_documents_router)  # before invoices: {id}.pdf
    app.include_router(billing_invoices_router)
    app.include_router(billing_providers_router)
    app.include_router(billing_transactions_router)
    app.include_router(billing_revenue_router)
    app.include_router(billing_licenses_router)
    app.include_router(calls_router)
    app.include_router(live_calls_router)
    app.include_router(video_router)
    app.include_router(video_signalling_router)
    app.include_router(phone_numbers_router)
    app.include_router(inbound_calls_router)
    app.include_router(recordings_router)
    app.include_router(webhooks_router)
    app.include_router(transcripts_router)
    app.include_router(privacy_router)
    app.include_router(alerts_router)
    app.include_router(analytics_live_router)
    app.include_router(analytics_router)
    app.include_router(tracking_router)
    app.include_router(lab_router)
    app.include_router(comments_router)
    app.include_router(channel_accounts_router)
    app.include_router(conversations_router)
    app.include_router(messages_router)
    app.include_router(opt_outs_router)
    app.include_router(campaigns_router)
    app.include_router(messaging_reports_router)
    app.include_router(bookings_router)
    app.include_router(calendar_feeds_router)
    app.include_router(bookings_intake_router)
    app.include_router(leads_router)
    app.include_router(leads_intake_router)
    app.include_router(webinars_router)
    app.include_router(webinar_registrations_router)
    app.include_router(webinars_intake_router)
    app.include_router(favorites_router)
    app.include_router(suggestions_router)
    app.include_router(suggestions_intake_router)
    app.include_router(personalizations_router)
    app.include_router(support_router)
    app.include_router(support_intake_router)
    app.include_router(support_sla_router)
    app.include_router(consultations_router)
    app.include_router(consultations_intake_router)
    app.include_router(careers_router)
    app.include_router(careers_intake_router)
    app.include_router(video_pages_router)
    app.include_router(dashboard_router)
    # Routers whose paths cannot match a request are passed over by one prefix test.
    skip_unmatchable_routers(app)

    # Innermost: counts each /v1 request's status (error rates, without a write each); it
    # sees the scope the routes fill (route, principal), which outer layers may copy.
    app.add_middleware(OutcomeMiddleware, counter=outcomes)
    # Outermost last: request context (ids, client, body cap) wraps idempotency.
    app.add_middleware(IdempotencyMiddleware, database=database, ttl_s=settings.idempotency_ttl_s)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-Id",
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "Idempotent-Replayed",
            ],
        )
    # Outside the general CORS middleware: /v1/intake answers for publishable keys' origins.
    app.add_middleware(IntakeCorsMiddleware, database=database)
    app.add_middleware(
        RequestContextMiddleware,
        trusted_proxies=settings.trusted_proxies,
        country_header=settings.country_header,
        city_header=settings.city_header,
        max_body_bytes=settings.max_body_bytes,
        log_requests=logs_info(settings.log_level),
    )
    # GET and HEAD read outside write transactions; one that writes runs again.
    app.add_middleware(ReadRequestMiddleware)
    return app


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """The application of a serving process (``commbase serve``, uvicorn's factory).

    What its first requests would build (every route's dependencies and models, the
    dashboard's templates) is built now, and every dashboard page's SQL statements are
    compiled in its lifespan's start-up (:mod:`commbase.warmup`; ``COMMBASE_WARMUP=false``
    skips both). Everything built so far (modules, routes, schemas, compiled SQL:
    hundreds of thousands of objects that live as long as the process) is moved out of
    the cyclic garbage collector's generations (``gc.freeze``), so a full collection no
    longer walks them: on a busy process those walks are event-loop pauses of tens of
    milliseconds, felt by every live call and socket at that moment.
    """
    app = create_app(settings)
    warm_up_served(app, dashboard_templates)
    gc.collect()
    gc.freeze()
    return app
