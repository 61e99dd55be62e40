"""Child process of ``civicpass up``: one service (issuer or verifier) under uvicorn.

``python -m civicpass._up_serve issuer|verifier NAME HOST PORT``; settings come from the environment
(``CIVICPASS_ISSUER_*`` / ``CIVICPASS_VERIFIER_*``), set by the parent. It logs as ``issuer serve`` and
``verifier serve`` do (:mod:`httpedge.logs`: one JSON object per line, request lines with the route
template, never the raw path), under the service's NAME, so ``up`` shows every service the same way.
uvicorn handles SIGINT/SIGTERM itself: it stops accepting, finishes requests in flight (at most
:data:`GRACE_S`), runs the app's shutdown (the issuer's worker thread stops), and exits 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

GRACE_S = 5


def build_app(kind: str) -> tuple[Any, Any]:
    """The app and its settings (whose ``http_*`` fields bound slow clients)."""
    if kind == "issuer":
        from issuer.api.app import create_app as create_issuer
        from issuer.settings import IssuerSettings

        issuer_settings = IssuerSettings()
        return create_issuer(issuer_settings), issuer_settings
    from verifier.api.app import create_app as create_verifier
    from verifier.settings import VerifierSettings

    settings = VerifierSettings()
    return create_verifier(settings), settings


def main(argv: Sequence[str] | None = None) -> int:
    from civicpass import _serving
    from httpedge.logs import configure_logging

    kind, service, host, port = argv if argv is not None else sys.argv[1:]
    if kind not in ("issuer", "verifier"):
        print(f"unknown service kind {kind!r}", file=sys.stderr)
        return 2
    configure_logging(service)
    app, settings = build_app(kind)
    _serving.run(_serving.config(app, host=host, port=int(port), log_config=None, log_level="warning",
                                 timeout_graceful_shutdown=GRACE_S, header_timeout_s=settings.http_header_timeout_s,
                                 body_timeout_s=settings.http_body_timeout_s, keep_alive_s=settings.http_keep_alive_s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
