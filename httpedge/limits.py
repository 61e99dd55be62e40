"""The request body limit, a pure ASGI middleware that runs before any parsing work.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is read up to the limit
and then handed on from memory as one message. Either way the answer is a 413 problem, never a 500 and
never an unbounded read. The limit may depend on the path (the verifier takes larger image bodies).

Having the whole body, it also refuses a JSON body with a duplicate member (400 ``malformed_json``):
parsers disagree on which duplicate wins (RFC 8259 §4), and pydantic and FastAPI silently keep the last.
Checked once here for every route, whatever the declared content type: a body that starts like a JSON
object or array is parsed with jiter's duplicate check (pydantic's own parser, a fraction of a
verification's cost); anything else, and JSON that does not parse, is left to the route.
"""

from __future__ import annotations

from collections.abc import Callable

import jiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from httpedge.problems import duplicate_member_body, too_large_body

__all__ = ["BodyLimit", "has_duplicate_member"]


def has_duplicate_member(body: bytes) -> bool:
    """Whether ``body``, if it is JSON, has an object with a member twice (at any depth)."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        jiter.from_json(body, catch_duplicate_keys=True)
    except ValueError:
        try:  # a duplicate, or not JSON at all (which the route answers itself)?
            jiter.from_json(body)
        except ValueError:
            return False
        return True
    return False


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int | Callable[[str], int]) -> None:
        self.app = app
        self.limit_for: Callable[[str], int] = limit if callable(limit) else (lambda _path: limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await _refuse(send, 413, too_large_body(scope["path"]))
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _refuse(send, 413, too_large_body(scope["path"]))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        if has_duplicate_member(whole):
            await _refuse(send, 400, duplicate_member_body(scope["path"]))
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # afterwards: the client's disconnect, for streaming responses
            sent = True
            return {"type": "http.request", "body": whole, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
