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

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("commbase.errors")

_STATUS_CODES = {
    400: "invalid-request",
    401: "authentication-required",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "rate-limited",
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


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    items = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        items.append(
            {
                "loc": loc,
                "pointer": "/" + "/".join(loc[1:]) if loc and loc[0] == "body" else None,
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
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
        items = _field_errors(exc)
        json_invalid = any(item["type"] == "json_invalid" for item in items)
        return problem_response(
            status=422,
            code="validation-failed",
            title="The request did not validate",
            detail="Body is not valid JSON" if json_invalid else f"{len(items)} field(s) invalid",
            instance=request.url.path,
            errors_=items,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            status=exc.status_code,
            code=code,
            title=detail or code.replace("-", " ").capitalize(),
            detail=detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            status=500,
            code="internal-error",
            title="Internal error",
            detail="An unexpected error occurred; it has been logged",
            instance=request.url.path,
        )
