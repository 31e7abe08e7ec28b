"""Render every error as RFC 9457 problem+json, validation errors included."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from commbase.core import errors
from commbase.core.db import database_unavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("commbase.errors")

# What the HTTP layer (routing, body parsing) answers, as the tree's problem types.
_HTTP_ERRORS: dict[int, type[errors.CommbaseError]] = {
    cls.status: cls
    for cls in (
        errors.InvalidRequest,
        errors.AuthenticationRequired,
        errors.PermissionDenied,
        errors.NotFound,
        errors.MethodNotAllowed,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ValidationFailed,
        errors.RateLimited,
        errors.ServiceUnavailable,
    )
}


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    errors_: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if instance:
        body["instance"] = instance
    if errors_:
        body["errors"] = errors_
    if extensions:
        body.update(extensions)
    return Response(
        content=orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _malformed_json(exc: RequestValidationError) -> str | None:
    """The problem's detail when the body is not JSON at all, else None."""
    for err in exc.errors():
        if err.get("type") != "json_invalid":
            continue
        reason = (err.get("ctx") or {}).get("error") or "JSON decode error"
        loc = err.get("loc", ())
        position = loc[-1] if loc and isinstance(loc[-1], int) else None
        text = exc.body if isinstance(exc.body, str) else None
        if position is None or text is None:
            return f"The body is not valid JSON: {reason}"
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
        return f"The body is not valid JSON: {reason} (line {line}, column {column})"
    return None


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    items = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        in_body = bool(loc) and loc[0] == "body"
        items.append(
            {
                "loc": loc,
                # RFC 6901: "" is the whole body, "/name" one of its members.
                "pointer": "".join(f"/{part}" for part in loc[1:]) if in_body else None,
                # The whole body at fault names no field.
                "field": ".".join(loc[1:]) if len(loc) > 1 or in_body else ".".join(loc),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    return items


def install_problem_handlers(app: FastAPI) -> None:
    """Map commbase errors, HTTP errors, validation errors and crashes to problems."""

    @app.exception_handler(errors.CommbaseError)
    async def _commbase_error(request: Request, exc: errors.CommbaseError) -> Response:
        if exc.status >= 500:
            log.error("request failed", error=exc.code, detail=exc.detail)
        return problem_response(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors_=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        malformed = _malformed_json(exc)
        if malformed is not None:
            return problem_response(
                status=errors.InvalidRequest.status,
                code=errors.InvalidRequest.code,
                title=errors.InvalidRequest.title,
                detail=malformed,
                instance=request.url.path,
            )
        items = _field_errors(exc)
        return problem_response(
            status=422,
            code="validation-failed",
            title="The request did not validate",
            detail=f"{len(items)} field(s) invalid",
            instance=request.url.path,
            errors_=items,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        cls = _HTTP_ERRORS.get(exc.status_code, errors.HttpError)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            status=exc.status_code,
            code=cls.code,
            title=cls.title,
            detail=detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )


def crash_response(exc: Exception, *, path: str) -> Response:
    """Log an unhandled error (once, with its traceback) and answer a bare 500 problem;
    a database that cannot be reached answers 503 with ``Retry-After`` instead."""
    if database_unavailable(exc):
        log.warning("database unavailable", path=path, error=repr(exc))
        unavailable = errors.DatabaseUnavailable()
        return problem_response(
            status=unavailable.status,
            code=unavailable.code,
            title=unavailable.title,
            detail=unavailable.detail,
            instance=path,
            headers=unavailable.headers,
        )
    log.error("unhandled error", path=path, exc_info=exc)
    return problem_response(
        status=500,
        code=errors.CommbaseError.code,
        title=errors.CommbaseError.title,
        detail="An unexpected error occurred; it has been logged",
        instance=path,
    )


# ---------------------------------------------------------------------- OpenAPI

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem; `GET /problems` describes every `type`.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<code>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request's path"},
        "errors": {
            "type": "array",
            "description": "Each field at fault (validation problems)",
            "items": {
                "type": "object",
                "required": ["loc", "field", "message"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "field": {"type": "string"},
                    "pointer": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    # Some types add members (``required`` scopes, ``job``, limits...).
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


def _with_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Document what every operation answers when it refuses: problem+json."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {
                    "description": "The request did not validate (`errors[]` names each field)",
                    "content": _PROBLEM_CONTENT,
                }
            responses.setdefault(
                "default",
                {
                    "description": "A problem (RFC 9457): see `GET /problems`",
                    "content": _PROBLEM_CONTENT,
                },
            )
    # FastAPI's own validation shapes are never sent: commbase answers problems.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe error responses as the problems they are."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
