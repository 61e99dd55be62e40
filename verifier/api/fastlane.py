"""``POST /v1/verify``, the counter's and the merchant apps' hot path, served ahead of the framework's stack.

A verification is a few hundred microseconds of parsing and signature checks; FastAPI's routing, exception,
telemetry and dependency layers, with the edge's CORS, add a sizeable share to that on every request (figures
in BENCHMARKS.md). :class:`VerifyEndpoint` is a plain ASGI endpoint that the edge serves ahead of all of them
(``httpedge.install(fast_routes=...)``), behind the same request observer and body limit as every route (so
the body it receives is whole and bounded). It answers with the same function the documented route calls
(:func:`answer_verify`) and renders errors with the same problem handlers (``ProblemMap.respond``), so both
paths give the same bytes for the same request; a test holds them to that.

Answers are JSON through orjson, several times faster than the standard encoder; a value orjson refuses (an
integer beyond 64 bits in an issuer's claim) falls back to the standard encoder rather than failing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from verifier.api.problems import PROBLEMS
from verifier.api.schemas import VerifyIn
from verifier.service import VerifierService

__all__ = ["VERIFY_PATH", "FastJSONResponse", "VerifyEndpoint", "answer_verify", "parse_verify"]

VERIFY_PATH = "/v1/verify"  # the lane and the documented route (api/routes.py) share it


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse (compact, UTF-8, no NaN) rendered by orjson when it can."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError: e.g. an int over 64 bits
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def parse_verify(raw: bytes) -> VerifyIn:
    # pydantic-core parses and validates the JSON in one step; errors take the usual 4xx path.
    try:
        return VerifyIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


async def answer_verify(svc: VerifierService, raw: bytes) -> Response:
    """The verdict for one ``POST /v1/verify`` body; raises what the problem handlers render."""
    body = parse_verify(raw)
    verdict = await svc.verify_async(body.presentation, body.policy, nonce=body.nonce, audience=body.audience,
                                     received_programmes=body.received_programmes)
    return FastJSONResponse(verdict.to_json())


class VerifyEndpoint:
    def __init__(self) -> None:
        self._route: Any = None  # the documented route, named on the scope as the router would (request logs)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._route is None:
            self._route = next(r for r in scope["app"].router.routes
                               if getattr(r, "path", None) == VERIFY_PATH and "POST" in getattr(r, "methods", ()))
        scope["route"] = self._route
        message = await receive()  # BodyLimit hands on the whole body as one message
        if message["type"] != "http.request":
            return  # the client left
        try:
            response = await answer_verify(scope["app"].state.parts.verifier, message.get("body", b""))
        except Exception as exc:  # as the app's handlers would answer it; an unexpected one is logged there
            response = await PROBLEMS.respond(Request(scope), exc)
        await response(scope, receive, send)
