"""CORS for the routes a browser wallet calls (wallet_sdk/web, on its own origin): the OpenID4VCI endpoints
and the status lists. They take bearer tokens, never cookies, so any origin may read their answers; every
other route (admin API, desk) gets no CORS headers at all."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WALLET_PATHS = ("/.well-known/", "/token", "/nonce", "/credential", "/notification", "/status-lists/")


class WalletCors:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = WALLET_PATHS) -> None:
        self.app, self.prefixes = app, prefixes
        self.cors = CORSMiddleware(app, allow_origins=["*"], allow_methods=["GET", "POST"],
                                   allow_headers=["authorization", "content-type", "dpop"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.prefixes) and not path.startswith("/credentials"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
