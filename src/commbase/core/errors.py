"""The one documented error tree. Services raise these; only the app maps them to HTTP.

Every error becomes an RFC 9457 ``application/problem+json`` response whose
``type`` is ``/problems/<code>`` on this server (``GET /problems`` lists them,
each with its description and the more general type it refines, its ``parent``).
Every class derives from ``CommbaseError``; raised as is, that base is the
500 ``internal-error``. The top-level types below refine no other type.

    CommbaseError                      500 internal-error
    InvalidRequest                     400 invalid-request
    ValidationFailed                   422 validation-failed   (errors[] with field paths)
    AuthenticationRequired             401 authentication-required
    └── InvalidCredentials             401 invalid-credentials
    PermissionDenied                   403 permission-denied
    ├── ScopeMissing                   403 scope-missing
    ├── IpNotAllowed                   403 ip-not-allowed
    ├── OriginNotAllowed               403 origin-not-allowed
    ├── ConsentRequired                403 consent-required
    └── ContactBlocked                 403 contact-blocked
    NotFound                           404 not-found
    MethodNotAllowed                   405 method-not-allowed
    Conflict                           409 conflict
    ├── AlreadyExists                  409 already-exists
    └── IdempotencyKeyInUse            409 idempotency-key-in-use
    IdempotencyKeyReused               422 idempotency-key-reused
    PaymentRequired                    402 payment-required
    PayloadTooLarge                    413 payload-too-large
    UnsupportedMediaType               415 unsupported-media-type
    RateLimited                        429 rate-limited
    ServiceUnavailable                 503 service-unavailable
    HttpError                          400 http-error          (any other HTTP-level refusal)
"""

from __future__ import annotations

from typing import Any, ClassVar


class CommbaseError(Exception):
    """An unexpected error on the server. It is logged with the request's id
    (``X-Request-Id``); the response carries no details.

    In code, the base of every error commbase raises on purpose.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions


class InvalidRequest(CommbaseError):
    """The request cannot be read as sent: a body that is not valid JSON, a header or
    URL that is not allowed. Sending it again unchanged fails again."""

    status, code, title = 400, "invalid-request", "The request is malformed"


class ValidationFailed(CommbaseError):
    """The request was read but some values are not acceptable; ``errors[]`` names
    each one (``loc``, ``field``, ``message``). Nothing was changed."""

    status, code, title = 422, "validation-failed", "The request did not validate"


class AuthenticationRequired(CommbaseError):
    """No usable credential was sent: send ``Authorization: Bearer <api key or session
    token>`` (provider callbacks: a valid signature)."""

    status, code, title = 401, "authentication-required", "Authentication required"


class InvalidCredentials(AuthenticationRequired):
    """A credential was sent but it is unknown, expired or revoked, or a password is wrong."""

    code, title = "invalid-credentials", "The credentials are invalid, expired or revoked"


class PermissionDenied(CommbaseError):
    """The caller is known but may not do this: its role, or the state of the
    organization or record, forbids it."""

    status, code, title = 403, "permission-denied", "Not allowed"


class ScopeMissing(PermissionDenied):
    """The credential lacks a scope this request needs; ``required`` lists them."""

    code, title = "scope-missing", "The credential lacks a required scope"


class IpNotAllowed(PermissionDenied):
    """The API key works only from the IP ranges on its allowlist."""

    code, title = "ip-not-allowed", "The request's IP address is not on the key's allowlist"


class OriginNotAllowed(PermissionDenied):
    """A publishable key works only from the web origins on its list (the ``Origin``
    header of every request)."""

    code, title = "origin-not-allowed", "The request's origin is not allowed for this key"


class ConsentRequired(PermissionDenied):
    """The user has not authorised this agent session to place calls."""

    code, title = "consent-required", "The user has not authorised this agent to call"


class ContactBlocked(PermissionDenied):
    """The contact book marks this number as blocked; calls to it are refused."""

    code, title = "contact-blocked", "This number is blocked in the contact book"


class NotFound(CommbaseError):
    """No such route, or no such record in the caller's organization (another
    organization's records are just as unknown)."""

    status, code, title = 404, "not-found", "Not found"


class MethodNotAllowed(CommbaseError):
    """The route exists, but not for this HTTP method; the ``Allow`` header lists the
    methods it takes."""

    status, code, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(CommbaseError):
    """The request conflicts with the record's current state."""

    status, code, title = 409, "conflict", "The request conflicts with the current state"


class AlreadyExists(Conflict):
    """A record with these unique values already exists."""

    code, title = "already-exists", "A record with these values already exists"


class IdempotencyKeyInUse(Conflict):
    """A request with this ``Idempotency-Key`` is still in progress; retry when it is done."""

    code, title = "idempotency-key-in-use", "A request with this Idempotency-Key is in progress"


class IdempotencyKeyReused(CommbaseError):
    """This ``Idempotency-Key`` was used with a different request (method, path or
    body); a new request needs a new key."""

    status, code = 422, "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"


class PaymentRequired(CommbaseError):
    """The wallet's balance (or the plan's allowance) does not cover this."""

    status, code, title = 402, "payment-required", "The balance does not cover this"


class PayloadTooLarge(CommbaseError):
    """The request body is larger than the server accepts (``COMMBASE_MAX_BODY_BYTES``)."""

    status, code, title = 413, "payload-too-large", "The request body is too large"


class UnsupportedMediaType(CommbaseError):
    """The body's ``Content-Type`` is not one the route reads: JSON routes take
    ``application/json``."""

    status, code, title = 415, "unsupported-media-type", "Unsupported content type"


class RateLimited(CommbaseError):
    """Too many requests for this credential or IP address in the current window;
    ``Retry-After`` and the ``RateLimit`` headers say when to retry."""

    status, code, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(CommbaseError):
    """A dependency (database, Redis, a provider) is unavailable or not configured.
    While the database cannot be reached, ``Retry-After`` says when to try again, and
    the request's ``Idempotency-Key`` is free for that retry."""

    status, code, title = 503, "service-unavailable", "A dependency is unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached right now (restarting, stopped, every connection
    busy): retry after ``Retry-After`` seconds, with the same ``Idempotency-Key``."""

    retry_after_s: ClassVar[int] = 2

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(
            detail or "The database is unavailable; retry shortly",
            headers={"Retry-After": str(self.retry_after_s)},
            **extensions,
        )


class HttpError(CommbaseError):
    """A refusal from the HTTP layer that has no more specific type; the problem's
    ``status`` is the one answered."""

    status, code, title = 400, "http-error", "The request could not be served"


def error_classes() -> list[type[CommbaseError]]:
    """Every error class in the tree, root first."""
    found: list[type[CommbaseError]] = []
    pending: list[type[CommbaseError]] = [CommbaseError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def invalid(
    detail: str,
    field: str,
    *,
    location: str = "body",
    message: str | None = None,
    **extensions: Any,
) -> ValidationFailed:
    """A 422 naming the one field (or query parameter) at fault.

    ``field`` may be a dotted path (``filters.0.value``); ``location`` is ``body``,
    ``query`` or ``path``; ``message`` is the per-field text (default ``detail``).
    """
    return ValidationFailed(
        detail,
        errors=[
            {
                "loc": [location, *field.split(".")],
                "field": field,
                "message": message or detail,
            }
        ],
        **extensions,
    )
