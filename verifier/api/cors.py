"""CORS for the routes a browser wallet calls (wallet_sdk/web, on its own origin): the OpenID4VP request
objects and the direct_post response endpoint. No cookies are involved, so any origin may read their
answers; every other route (verify API, counter page) gets no CORS headers at all. (The issuer has the
same few lines in issuer/api/cors.py: the two services never import each other.)"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WALLET_PATHS = ("/v1/requests/", "/v1/openid4vp/")


class WalletCors:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = WALLET_PATHS) -> None:
        self.app, self.prefixes = app, prefixes
        self.cors = CORSMiddleware(app, allow_origins=["*"], allow_methods=["GET", "POST"],
                                   allow_headers=["authorization", "content-type", "dpop"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
