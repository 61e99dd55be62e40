"""The only place that maps errors to HTTP: RFC 9457 ``application/problem+json`` with a stable ``code``.

Every :class:`~credcore.errors.CredError` maps by its most specific class; FastAPI's validation errors
and Starlette's HTTP errors (404 route, 405 method) are reshaped the same way, so a client handles one
error format. Anything else is a 500 with no detail: a bug, logged, never echoing input.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from credcore.errors import (
    ConflictError,
    CredError,
    InfrastructureError,
    MalformedInputError,
    NotFoundError,
    PayloadTooLargeError,
    RefusedError,
)
from verifier.errors import RequestExpiredError, UnsupportedMediaError

__all__ = ["PROBLEM_BASE", "install", "problem", "problem_for", "status_for"]

log = logging.getLogger(__name__)
PROBLEM_BASE: Final = "https://civicpass.dev/problems"
_STATUS: Final[dict[type[CredError], int]] = {
    MalformedInputError: 400,
    PayloadTooLargeError: 413,
    RefusedError: 422,
    UnsupportedMediaError: 415,
    NotFoundError: 404,
    ConflictError: 409,
    RequestExpiredError: 410,
    InfrastructureError: 503,
}
_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "malformed_input"}


def status_for(exc: CredError) -> int:
    for cls in type(exc).__mro__:  # most specific mapping wins
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": f"{PROBLEM_BASE}/{code}", "title": title, "status": status, "detail": detail, "code": code,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _cred_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CredError)
    status = status_for(exc)
    if status >= 500:
        log.warning("%s on %s: %s", exc.code, request.url.path, exc.detail)
    response = problem(status, exc.code, exc.title, exc.detail, request.url.path)
    retry_after = getattr(exc, "retry_after", None)  # busy or rate limited: when to try again, in seconds
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "Body is not JSON", "request body is not valid JSON", request.url.path)
    # Field locations and error types only: never echo the offending input back.
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type")} for e in errors[:20]]
    return problem(422, "invalid_request", "Request does not match the schema", "see 'errors'", request.url.path,
                   errors=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request.url.path)


async def problem_for(request: Request, exc: CredError | RequestValidationError) -> JSONResponse:
    """The problem for an error raised on a path that runs outside the exception middleware (api/fastlane.py)."""
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    return await _cred_error(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "Internal error", "internal error", request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CredError, _cred_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
