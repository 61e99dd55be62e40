"""Request dependencies: the service, admin roles from bearer tokens, strict JSON bodies.

Admin tokens are compared in constant time against every configured token (SHA-256 of both sides, then
``hmac.compare_digest``, no early exit), so response timing says nothing about how close a guess was.
The audit actor is :func:`issuer.settings.token_actor`: ``<role>:<8 hex of the token's SHA-256>``.
Dependencies are ``async def`` on purpose: they never block, and FastAPI would otherwise send each one
through the thread pool (measurably slower on the issuance path); routes stay sync and run there once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from credcore.errors import MalformedInputError
from credcore.keys import parse_json_object
from issuer.errors import ForbiddenError, UnauthorizedError
from issuer.service import IssuerService
from issuer.settings import IssuerSettings, token_actor

__all__ = ["Admin", "TokenTable", "bearer", "client_of", "json_body", "model_body", "require", "service"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Admin:
    role: str
    actor: str


class TokenTable:
    def __init__(self, settings: IssuerSettings) -> None:
        self._entries = [
            (hashlib.sha256(t.get_secret_value().encode()).digest(), role)
            for role, tokens in (("clerk", settings.clerk_tokens), ("operator", settings.operator_tokens))
            for t in tokens
        ]

    def lookup(self, token: str) -> Admin | None:
        probe = hashlib.sha256(token.encode()).digest()
        found: str | None = None
        for digest, role in self._entries:
            if hmac.compare_digest(probe, digest):
                found = role
        return None if found is None else Admin(found, token_actor(found, token))


def client_of(request: Request) -> str:
    """Who a per-client rate limit counts: the peer address (uvicorn resolves trusted proxies' headers)."""
    return request.client.host if request.client else "unknown"


async def service(request: Request) -> IssuerService:
    svc: IssuerService = request.app.state.service
    return svc


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def access_token(request: Request) -> tuple[str, str | None]:
    """``(scheme, token)`` of an OAuth ``Authorization`` header: ``bearer`` or ``dpop`` (RFC 9449 §7.1)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower(), value.strip() or None


def require(*roles: str) -> Callable[[Request], Awaitable[Admin]]:
    async def dependency(request: Request) -> Admin:
        token = bearer(request)
        tokens: TokenTable = request.app.state.tokens
        admin = tokens.lookup(token) if token else None
        if admin is None:
            raise UnauthorizedError("a valid admin bearer token is required")
        if admin.role not in roles:
            raise ForbiddenError(f"this needs the {' or '.join(roles)} role")
        return admin

    return dependency


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a strict JSON object (no duplicate members, no NaN)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise MalformedInputError("body must be application/json")
    raw = await request.body()
    return parse_json_object(raw, "request body")


def model_body(model: type[M]) -> Callable[..., Any]:
    """A dependency: the strict JSON body validated as ``model`` (errors name fields, never values)."""

    async def dependency(request: Request) -> M:
        raw = await json_body(request)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:  # rendered by the edge like FastAPI's own: locations, never values
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None

    return dependency

