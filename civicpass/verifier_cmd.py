"""``civicpass verifier serve``: the verifier service under uvicorn (default 127.0.0.1:8200).

This is the composition root: command-line options become ``CIVICPASS_VERIFIER_*`` variables, so that
every uvicorn worker process builds the same :class:`~verifier.settings.VerifierSettings` from the
environment in :func:`app_from_env`. uvicorn is set up by :mod:`civicpass._serving` (uvloop, httptools,
deadlines for slow clients).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

_OPTIONS = {  # option name -> settings field
    "host": "host",
    "port": "port",
    "public_url": "public_url",
    "data_dir": "data_dir",
    "chain_rpc_url": "chain_rpc_url",
    "deployment_file": "deployment_file",
    "replay": "replay_backend",
    "redis_url": "redis_url",
    "database_url": "database_url",
}


def register(sub: Any) -> None:
    p = sub.add_parser("verifier", help="the verifier service (verify API, OpenID4VP, counter page)")
    vsub = p.add_subparsers(dest="verifier_command", required=True, metavar="COMMAND")
    s = vsub.add_parser("serve", help="serve the verifier API and the counter page at /counter")
    s.add_argument("--host", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8200)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    s.add_argument("--public-url", help="URL wallets reach this verifier at (default http://HOST:PORT)")
    s.add_argument("--data-dir", help="state directory (default .civicpass/verifier)")
    s.add_argument("--deployment-file", help="registries' deployment JSON (e.g. .civicpass/deployment.json from "
                   "`civicpass chain up`); without it the verifier runs offline from its persisted snapshot")
    s.add_argument("--chain-rpc-url", help="chain JSON-RPC URL (default: the one in the deployment file)")
    s.add_argument("--replay", choices=["sql", "redis"], help="replay cache backend (default sql)")
    s.add_argument("--redis-url", help="Redis URL for --replay redis")
    s.add_argument("--database-url", help="SQLAlchemy URL (default SQLite under the data directory)")
    s.set_defaults(func=serve)


def app_from_env() -> Any:
    """uvicorn factory: settings from the environment, then the app. Runs in each worker."""
    from httpedge.logs import configure_logging
    from verifier.api.app import create_app
    from verifier.settings import VerifierSettings

    configure_logging("verifier")  # in the worker: JSON lines, the same as under civicpass up
    return create_app(VerifierSettings())


def serve(args: argparse.Namespace) -> int:
    from civicpass import _serving
    from verifier.settings import VerifierSettings

    for option, field in _OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            os.environ[f"CIVICPASS_VERIFIER_{field.upper()}"] = str(value)
    settings = VerifierSettings()  # validate once here so a bad option fails before workers start
    if args.public_url is None and "CIVICPASS_VERIFIER_PUBLIC_URL" not in os.environ:
        os.environ["CIVICPASS_VERIFIER_PUBLIC_URL"] = f"http://{settings.host}:{settings.port}"
    print(f"civicpass verifier on http://{settings.host}:{settings.port} (counter page: /counter)", flush=True)
    _serving.run(_serving.config(
        "civicpass.verifier_cmd:app_from_env", factory=True, host=settings.host, port=settings.port,
        workers=max(1, args.workers), log_level="warning", header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s, keep_alive_s=settings.http_keep_alive_s))
    return 0
