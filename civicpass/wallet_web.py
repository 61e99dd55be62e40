"""``civicpass wallet serve``: the resident web wallet (``wallet_sdk/web``) and the city's trust list for it.

The wallet is static files built at set-up into ``wallet_sdk/web/dist`` (``node wallet_sdk/web/build.mjs``,
run by ``scripts/_setup.sh``); any web host can serve them. This server adds one dynamic file,
``trust.json``: the issuers and keys of the chain's TrustRegistry (the verifier's trust snapshot format,
:mod:`verifier.snapshot_file`) plus the chain's digest of each published status list, read from the chain
at most every :data:`TRUST_TTL_S` seconds. The wallet checks every credential it receives against it and
keeps the last copy for offline use. It comes from the same origin as the wallet's code, so it is exactly
as trustworthy as the code that checks it; README "Resident web wallet" says what that means.

Run alone (``python -m civicpass.wallet_web HOST PORT [--chain DEPLOYMENT | --trust SNAPSHOT]``) it is the
child process ``civicpass up`` starts on ``--wallet-port``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DIST: Final = Path(__file__).resolve().parent.parent / "wallet_sdk" / "web" / "dist"
DEFAULT_PORT: Final = 8300
TRUST_TTL_S: Final = 5
#: The wallet talks to issuers and verifiers on other origins (connect-src); everything else is its own.
CSP: Final = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
              "media-src 'self' blob: mediastream:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "
              "worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class WalletNotBuiltError(RuntimeError):
    pass


class ChainTrust:
    """trust.json from the chain: incremental TrustSync, at most one sync per :data:`TRUST_TTL_S`."""

    def __init__(self, deployment_path: Path) -> None:
        from web3 import Web3

        from contracts.deployment import Deployment
        from contracts.sync import TrustSync

        deployment = Deployment.load(deployment_path)
        if not deployment.rpc_url:
            raise ValueError("the deployment file names no rpc_url")
        self._sync = TrustSync(Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 10})), deployment)
        self._state: Any = None
        self._doc: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def document(self) -> dict[str, Any]:
        from verifier.snapshot_file import snapshot_to_json

        with self._lock:
            if self._doc is None or time.monotonic() - self._at >= TRUST_TTL_S:
                self._state = self._sync.sync(self._state)
                doc = snapshot_to_json(self._state.snapshot(now=int(time.time())))
                doc["status_digests"] = {p.uri: p.digest.hex() for p in self._state.pending_status_lists}
                self._doc, self._at = doc, time.monotonic()
            return self._doc


class FileTrust:
    """trust.json from a verifier's trust snapshot file (read on each request: it may be rewritten)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self._path.read_text())
        digests = {s["uri"]: s["digest"] for s in doc.get("status_lists", []) if s.get("digest")}
        return {**doc, "status_lists": [], "cursor": {}, "status_digests": digests}


class _Headers:
    """Security headers on every answer; app files revalidate so a new build reaches the service worker."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"permissions-policy", b"camera=(self)")]
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_wallet_app(dist: Path = DIST, trust: ChainTrust | FileTrust | None = None) -> ASGIApp:
    """The wallet's static files and ``trust.json``; refuses to start on a missing build."""
    if not (dist / "index.html").is_file() or not (dist / "app.js").is_file():
        raise WalletNotBuiltError(f"the web wallet is not built in {dist}: run scripts/up once, or "
                                  "`node wallet_sdk/web/build.mjs` after `npm ci`")

    async def trust_json(_: Request) -> Response:
        if trust is None:
            return JSONResponse({"title": "no trust source configured", "code": "trust_unavailable"}, status_code=404,
                                media_type="application/problem+json")
        try:
            doc = await asyncio.to_thread(trust.document)
        except Exception:  # chain or file away: the wallet keeps its last copy and says so
            return JSONResponse({"title": "trust list unavailable", "code": "trust_unavailable"}, status_code=503,
                                media_type="application/problem+json", headers={"cache-control": "no-store"})
        return JSONResponse(doc, headers={"cache-control": "no-store"})

    app = Starlette(routes=[Route("/trust.json", trust_json),
                            Mount("/", StaticFiles(directory=dist, html=True))])
    return _Headers(app)


def trust_source(chain: str | None, snapshot: str | None) -> ChainTrust | FileTrust | None:
    if chain:
        return ChainTrust(Path(chain))
    if snapshot:
        return FileTrust(Path(snapshot))
    return None


def serve(host: str, port: int, trust: ChainTrust | FileTrust | None, *, dist: Path = DIST) -> None:
    import uvicorn

    app = create_wallet_app(dist, trust)
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, log_level="warning")
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m civicpass.wallet_web")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--chain", metavar="DEPLOYMENT")
    p.add_argument("--trust", metavar="SNAPSHOT")
    args = p.parse_args(argv)
    serve(args.host, args.port, trust_source(args.chain, args.trust))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
