"""Request body size limit as a pure ASGI middleware, before any parsing work is done.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is read up to the limit
and then handed to the app from memory. Either way the answer is a 413 problem, never a 500 and never
an unbounded read. The limit depends on the path (images are larger than presentation text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from verifier.api.problems import PROBLEM_BASE

__all__ = ["BodyLimit"]

Scope = dict[str, Any]
_TOO_LARGE = (
    b'{"type":"' + PROBLEM_BASE.encode() + b'/payload_too_large","title":"Input is larger than allowed",'
    b'"status":413,"detail":"request body is larger than allowed","code":"payload_too_large"}'
)


class BodyLimit:
    def __init__(self, app: Any, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await self._refuse(send)
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
                await self._refuse(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()  # afterwards: the client's disconnect, for streaming responses
            sent = True
            return {"type": "http.request", "body": whole, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Any) -> None:
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(_TOO_LARGE)).encode()),
                   (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": _TOO_LARGE})
