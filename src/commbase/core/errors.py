"""The one documented error tree. Services raise these; only the app maps them to HTTP.

Every error becomes an RFC 9457 ``application/problem+json`` response whose
``type`` is ``/problems/<code>`` on this server (``GET /problems`` lists them).

    CommbaseError                      500 internal-error
    ├── InvalidRequest                 400 invalid-request
    ├── ValidationFailed               422 validation-failed   (errors[] with field paths)
    ├── AuthenticationRequired         401 authentication-required
    │   └── InvalidCredentials         401 invalid-credentials
    ├── PermissionDenied               403 permission-denied
    │   ├── ScopeMissing               403 scope-missing
    │   ├── IpNotAllowed               403 ip-not-allowed
    │   ├── ConsentRequired            403 consent-required
    │   └── ContactBlocked             403 contact-blocked
    ├── NotFound                       404 not-found
    ├── Conflict                       409 conflict
    │   ├── AlreadyExists              409 already-exists
    │   └── IdempotencyKeyInUse        409 idempotency-key-in-use
    ├── IdempotencyKeyReused           422 idempotency-key-reused
    ├── PaymentRequired                402 payment-required
    ├── PayloadTooLarge                413 payload-too-large
    ├── UnsupportedMediaType           415 unsupported-media-type
    ├── RateLimited                    429 rate-limited
    └── ServiceUnavailable             503 service-unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar


class CommbaseError(Exception):
    """Base of every error commbase raises on purpose."""

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
    status, code, title = 400, "invalid-request", "The request is malformed"


class ValidationFailed(CommbaseError):
    status, code, title = 422, "validation-failed", "The request did not validate"


class AuthenticationRequired(CommbaseError):
    status, code, title = 401, "authentication-required", "Authentication required"


class InvalidCredentials(AuthenticationRequired):
    code, title = "invalid-credentials", "The credentials are invalid, expired or revoked"


class PermissionDenied(CommbaseError):
    status, code, title = 403, "permission-denied", "Not allowed"


class ScopeMissing(PermissionDenied):
    code, title = "scope-missing", "The credential lacks a required scope"


class IpNotAllowed(PermissionDenied):
    code, title = "ip-not-allowed", "The request's IP address is not on the key's allowlist"


class ConsentRequired(PermissionDenied):
    code, title = "consent-required", "The user has not authorised this agent to call"


class ContactBlocked(PermissionDenied):
    code, title = "contact-blocked", "This number is blocked in the contact book"


class NotFound(CommbaseError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(CommbaseError):
    status, code, title = 409, "conflict", "The request conflicts with the current state"


class AlreadyExists(Conflict):
    code, title = "already-exists", "A record with these values already exists"


class IdempotencyKeyInUse(Conflict):
    code, title = "idempotency-key-in-use", "A request with this Idempotency-Key is in progress"


class IdempotencyKeyReused(CommbaseError):
    status, code = 422, "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"


class PaymentRequired(CommbaseError):
    status, code, title = 402, "payment-required", "The balance does not cover this"


class PayloadTooLarge(CommbaseError):
    status, code, title = 413, "payload-too-large", "The request body is too large"


class UnsupportedMediaType(CommbaseError):
    status, code, title = 415, "unsupported-media-type", "Unsupported content type"


class RateLimited(CommbaseError):
    status, code, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(CommbaseError):
    status, code, title = 503, "service-unavailable", "A dependency is unavailable"


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
