"""Request dependencies: the service, admin roles from bearer tokens, strict JSON bodies, a body-size cap.

Admin tokens are compared in constant time against every configured token (SHA-256 of both sides, then
``hmac.compare_digest``, no early exit), so response timing says nothing about how close a guess was.
The audit actor is ``<role>:<8 hex of the token's SHA-256>``: traceable, not replayable.
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
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credcore.errors import MalformedInputError, PayloadTooLargeError
from credcore.keys import parse_json_object
from issuer.api.problems import too_large
from issuer.errors import ForbiddenError, UnauthorizedError
from issuer.service import IssuerService
from issuer.settings import IssuerSettings

__all__ = ["Admin", "BodyLimit", "TokenTable", "bearer", "json_body", "model_body", "require", "service"]

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
        return None if found is None else Admin(found, f"{found}:{probe.hex()[:8]}")


async def service(request: Request) -> IssuerService:
    svc: IssuerService = request.app.state.service
    return svc


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


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
        except ValidationError as exc:
            where = ", ".join("/".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()[:3])
            raise MalformedInputError(f"request is malformed at: {where}") from None

    return dependency


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await too_large(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise PayloadTooLargeError("request body is larger than allowed")
            return message

        await self.app(scope, limited, send)
