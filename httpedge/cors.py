"""CORS for the routes a browser wallet calls (wallet_sdk/web, on its own origin), and for no other route.

Those routes take bearer tokens or nothing, never cookies, so any origin may read their answers; every other
route (admin API, desk, verify API, counter page) gets no CORS headers at all. Each service names its wallet
routes by path prefix.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["WalletCors"]


class WalletCors:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], exclude: tuple[str, ...] = ()) -> None:
        self.app, self.prefixes, self.exclude = app, prefixes, exclude
        self.cors = CORSMiddleware(app, allow_origins=["*"], allow_methods=["GET", "POST"],
                                   allow_headers=["authorization", "content-type", "dpop"],
                                   expose_headers=["dpop-nonce"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.prefixes) and not (self.exclude and path.startswith(self.exclude)):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
