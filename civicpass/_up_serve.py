"""Child process of ``civicpass up``: one service (issuer or verifier) under uvicorn, with a request log.

``python -m civicpass._up_serve issuer|verifier NAME HOST PORT``; settings come from the environment
(``CIVICPASS_ISSUER_*`` / ``CIVICPASS_VERIFIER_*``), set by the parent. Why a separate entry and not
``civicpass issuer serve``: ``up`` wants one structured line per request from every service, the same
shape for both, and the service commands deliberately keep uvicorn's access log off.

Each line is JSON: time, service name, method, the matched route *template* (``/v1/credentials/{credential_id}
/{action}``, never the raw path or query, so ids, offer codes and claims never reach a log), status and
duration. Python warnings and errors are logged as JSON lines too (message only, no request data).
uvicorn handles SIGINT/SIGTERM itself: it stops accepting, finishes requests in flight (at most
:data:`GRACE_S`), runs the app's shutdown (the issuer's worker thread stops), and exits 0.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

GRACE_S = 5


def _ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestLog:
    """ASGI middleware: one JSON line per HTTP request, written when the response has been sent."""

    def __init__(self, app: ASGIApp, service: str, out: TextIO | None = None) -> None:
        self.app = app
        self.service = service
        self.out = out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            route = getattr(scope.get("route"), "path", None)  # Starlette sets the matched route on the scope
            line = {"ts": _ts(), "svc": self.service, "method": scope.get("method"), "route": route,
                    "status": status, "ms": round((time.perf_counter() - started) * 1000, 1)}
            out = self.out or sys.stdout
            out.write(json.dumps(line, separators=(",", ":")) + "\n")  # one write: lines of processes never mix
            out.flush()


class JsonLogFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": _ts(), "svc": self.service, "level": record.levelname.lower(), "logger": record.name,
                "msg": record.getMessage()}
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the type only: tracebacks may quote request data
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


def _logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def build_app(kind: str, service: str) -> tuple[Any, Any]:
    """The logged app and its settings (whose ``http_*`` fields bound slow clients)."""
    if kind == "issuer":
        from issuer.api.app import create_app as create_issuer
        from issuer.settings import IssuerSettings

        issuer_settings = IssuerSettings()
        return RequestLog(create_issuer(issuer_settings), service), issuer_settings
    from verifier.api.app import create_app as create_verifier
    from verifier.settings import VerifierSettings

    settings = VerifierSettings()
    return RequestLog(create_verifier(settings), service), settings


def main(argv: Sequence[str] | None = None) -> int:
    from civicpass import _serving

    kind, service, host, port = argv if argv is not None else sys.argv[1:]
    if kind not in ("issuer", "verifier"):
        print(f"unknown service kind {kind!r}", file=sys.stderr)
        return 2
    _logging(service)
    app, settings = build_app(kind, service)
    _serving.run(_serving.config(app, host=host, port=int(port), log_config=None, log_level="warning",
                                 timeout_graceful_shutdown=GRACE_S, header_timeout_s=settings.http_header_timeout_s,
                                 body_timeout_s=settings.http_body_timeout_s, keep_alive_s=settings.http_keep_alive_s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
