"""The only place that maps errors to HTTP: ``application/problem+json`` (RFC 9457) with a stable ``code``.

OAuth-style errors (token and credential endpoints) also carry ``error`` / ``error_description`` as
RFC 6749 §5.2 and OpenID4VCI §8.3.1.2 require, served as ``application/json``. Request bodies FastAPI
cannot parse become 400 ``malformed_input``; anything unexpected becomes an opaque 500 ``internal_error``
(logged with its type only); a database that cannot be reached is a 503. Bodies never echo claim values,
keys or secrets.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from credcore.errors import (
    AlreadyRevokedError,
    ConflictError,
    CredError,
    InfrastructureError,
    MalformedInputError,
    NotFoundError,
    PayloadTooLargeError,
    RefusedError,
)
from issuer.errors import (
    ForbiddenError,
    InvalidTokenError,
    OAuthError,
    UnauthorizedError,
)
from issuer.types import ClaimsInvalidError

__all__ = ["PROBLEM_BASE", "install", "problem", "status_for", "too_large"]

PROBLEM_BASE = "https://civicpass.example/problems"
_log = logging.getLogger("civicpass.issuer")

_STATUS: dict[type[CredError], int] = {
    MalformedInputError: 400,
    ClaimsInvalidError: 422,
    PayloadTooLargeError: 413,
    RefusedError: 400,
    OAuthError: 400,
    UnauthorizedError: 401,
    InvalidTokenError: 401,
    ForbiddenError: 403,
    ConflictError: 409,
    NotFoundError: 404,
    AlreadyRevokedError: 409,
    InfrastructureError: 503,
}


def status_for(exc: CredError) -> int:
    for cls in type(exc).__mro__:  # most specific mapping wins
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def problem(status: int, code: str, title: str, detail: str, instance: str) -> JSONResponse:
    body = {"type": f"{PROBLEM_BASE}/{code}", "title": title, "status": status, "detail": detail, "code": code,
            "instance": instance}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _cred_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CredError)
    status = status_for(exc)
    if isinstance(exc, OAuthError):
        body = {"error": exc.oauth_error, "error_description": exc.detail, "code": exc.code, "status": status}
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, InvalidTokenError):
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return JSONResponse(body, status_code=status, headers=headers)
    response = problem(status, exc.code, exc.title, exc.detail, request.url.path)
    if isinstance(exc, UnauthorizedError):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    where = ", ".join("/".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()[:3])
    return problem(400, "malformed_input", "Input cannot be parsed", f"request is malformed at: {where}",
                   request.url.path)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request.url.path)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    _log.error("database unavailable (%s) on %s", type(exc).__name__, request.url.path)
    return problem(503, InfrastructureError.code, InfrastructureError.title, "the database is unavailable; retry",
                   request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
    return problem(500, "internal_error", "Internal error", "Internal error", request.url.path)


async def too_large(send: Send) -> None:
    """413 straight from the body-size middleware, before any route runs."""
    body = json.dumps({"type": f"{PROBLEM_BASE}/payload_too_large", "title": PayloadTooLargeError.title,
                       "status": 413, "detail": "request body is larger than allowed",
                       "code": PayloadTooLargeError.code}).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    app.add_exception_handler(CredError, _cred_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
