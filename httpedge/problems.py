"""The one place that maps errors to HTTP, for the issuer and the verifier alike (RFC 9457 problem details).

Every :class:`~credcore.errors.CredError` group has one status here, the same in both services:

- input that cannot be parsed or does not fit the endpoint's schema: 400 (``payload_too_large``: 413);
- a well-formed request that is refused: 422 (``rate_limited``: 429, with ``Retry-After``);
- a state conflict: 409 (``not_found``: 404);
- an unavailable dependency: 503, as is any exception type a service declares as "dependency down"
  (the issuer's and verifier's database driver errors; this package imports no driver).

A service may give its *own* error classes a more precise status (401 for a missing token, 410 for an
expired request); it can never move a core class to another status, so one error has one status.
Answers are ``application/problem+json`` with a stable ``code``; classes that carry an ``oauth_error``
(RFC 6749 §5.2, OpenID4VCI §8.3.1.2) answer ``{"error", "error_description"}`` as those endpoints must.
Schema errors name locations and error types, never the offending input; anything unexpected is an
opaque 500 whose traceback goes to the log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from credcore.errors import (
    ConflictError,
    CredError,
    InfrastructureError,
    MalformedInputError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RefusedError,
)

__all__ = [
    "GROUP_STATUS",
    "PROBLEM_BASE",
    "Problem",
    "ProblemMap",
    "problem",
    "problem_body",
    "problem_responses",
]

PROBLEM_BASE: Final = "https://civicpass.example/problems"
log = logging.getLogger("civicpass.http")
_Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

#: The status of each core error group; the most specific class in an error's MRO wins.
GROUP_STATUS: Final[Mapping[type[CredError], int]] = {
    MalformedInputError: 400,
    PayloadTooLargeError: 413,
    RefusedError: 422,
    RateLimitedError: 429,
    ConflictError: 409,
    NotFoundError: 404,
    InfrastructureError: 503,
}
_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "malformed_input"}


class Problem(BaseModel):
    """RFC 9457 problem details as this module writes them (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine-readable code")
    instance: str
    errors: list[dict[str, object]] | None = Field(default=None, description="schema errors: locations and types")


def problem_body(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"{PROBLEM_BASE}/{code}", "title": title, "status": status, "detail": detail, "code": code,
            "instance": instance, **extra}


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, code, title, detail, instance, **extra), status_code=status,
                        media_type="application/problem+json")


def problem_responses(why: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem answers, e.g. ``{404: "unknown policy"}``."""
    schema = Problem.model_json_schema()
    return {status: {"description": text, "content": {"application/problem+json": {"schema": schema}}}
            for status, text in why.items()}


class ProblemMap:
    """One service's view of the mapping: the groups above plus statuses for the service's own classes."""

    def __init__(self, own: Mapping[type[CredError], int] | None = None,
                 unavailable: tuple[type[Exception], ...] = ()) -> None:
        own = dict(own or {})
        core = [cls for cls in own if cls.__module__.split(".")[0] == "credcore"]
        if core:
            raise ValueError(f"core error classes keep their group's status: {core}")
        self._status: dict[type[CredError], int] = {**GROUP_STATUS, **own}
        self.unavailable = unavailable

    def status_for(self, exc: CredError) -> int:
        for cls in type(exc).__mro__:
            if cls in self._status:
                return self._status[cls]
        return 500

    def _handlers(self) -> list[tuple[type[Exception], _Handler]]:
        """Each exception class and the handler that answers it; the classes are disjoint but the last."""
        return [(CredError, self._cred_error), (RequestValidationError, _validation_error),
                (StarletteHTTPException, _http_error), *((t, _unavailable) for t in self.unavailable),
                (Exception, _unexpected)]

    def install(self, app: FastAPI) -> None:
        app.state.problems = self
        for exc_type, handler in self._handlers():
            app.add_exception_handler(exc_type, handler)

    async def respond(self, request: Request, exc: Exception) -> JSONResponse:
        """The answer the installed handlers give ``exc``, for an endpoint the edge serves ahead of the framework
        (``install(fast_routes=...)``), where no exception middleware runs."""
        handler = next(h for exc_type, h in self._handlers() if isinstance(exc, exc_type))
        return await handler(request, exc)

    async def _cred_error(self, request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CredError)
        status = self.status_for(exc)
        if status >= 500:
            log.warning("%s on %s: %s", exc.code, _route(request), exc.detail)
        oauth_error = getattr(type(exc), "oauth_error", None)
        if isinstance(oauth_error, str):
            body = {"error": oauth_error, "error_description": exc.detail, "code": exc.code, "status": status}
            headers = {"Cache-Control": "no-store"}
            if status == 401:  # the scheme the client must use: Bearer, or DPoP for a DPoP-bound token
                scheme = getattr(type(exc), "auth_scheme", "Bearer")
                headers["WWW-Authenticate"] = f'{scheme} error="{oauth_error}"'
            extra = getattr(exc, "response_headers", None)  # what the client needs to try again (a DPoP nonce)
            if isinstance(extra, dict):
                headers.update({str(k): str(v) for k, v in extra.items()})
            return JSONResponse(body, status_code=status, headers=headers)
        response = problem(status, exc.code, exc.title, exc.detail, request.url.path)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        retry_after = getattr(exc, "retry_after", None)  # busy or rate limited: when to try again, in seconds
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response


def _route(request: Request) -> str | None:
    # The route template, never the raw path: paths carry ids and offer codes.
    return getattr(request.scope.get("route"), "path", None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "Body is not JSON", "request body is not valid JSON", request.url.path)
    # Field locations and error types only: never echo the offending input back.
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type")} for e in errors[:20]]
    where = ", ".join("/".join(f["loc"]) or "body" for f in fields[:3])
    return problem(400, MalformedInputError.code, "Request does not match the schema",
                   f"request is malformed at: {where}", request.url.path, errors=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request.url.path)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("dependency unavailable (%s) on %s", type(exc).__name__, _route(request), exc_info=exc)
    return problem(503, InfrastructureError.code, InfrastructureError.title, "a dependency is unavailable; retry",
                   request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s", type(exc).__name__, _route(request), exc_info=exc)
    return problem(500, "internal_error", "Internal error", "internal error", request.url.path)


def too_large_body(instance: str) -> bytes:
    """The 413 problem, as bytes for a raw ASGI answer (the body limit runs before any route)."""
    return json.dumps(problem_body(413, PayloadTooLargeError.code, PayloadTooLargeError.title,
                                   "request body is larger than allowed", instance), separators=(",", ":")).encode()


def duplicate_member_body(instance: str) -> bytes:
    """The 400 for a JSON body with a duplicate member, as bytes for the body limit's raw ASGI answer."""
    return json.dumps(problem_body(400, "malformed_json", "Body is not JSON", "request body has a duplicate member",
                                   instance), separators=(",", ":")).encode()
