"""``civicpass issuer serve``: the issuer service under uvicorn (default 127.0.0.1:8100).

The composition root for the command line: options become ``CIVICPASS_ISSUER_*`` variables, so every
uvicorn worker builds the same :class:`~issuer.settings.IssuerSettings` from the environment in
:func:`app_from_env` (migrations run at start, in each worker, idempotently). Each worker also runs the
status publisher and anchoring worker; the anchoring queue is claimed with row locks, so that is safe.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

_OPTIONS = {  # option name -> settings field
    "base_url": "base_url",
    "database_url": "database_url",
    "chain_rpc_url": "chain_rpc_url",
    "deployment_file": "deployment_file",
    "types_dir": "types_dir",
    "environment": "environment",
}


def register(sub: Any) -> None:
    p = sub.add_parser("issuer", help="the issuer service (OpenID4VCI, admin API, status lists, anchoring)")
    isub = p.add_subparsers(dest="issuer_command", required=True, metavar="COMMAND")
    s = isub.add_parser("serve", help="serve the issuer API")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8100, help="port (default 8100)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    s.add_argument("--base-url", help="URL wallets reach this issuer at (default http://HOST:PORT)")
    s.add_argument("--data-dir", default=".civicpass", help="state directory for the default SQLite database")
    s.add_argument("--database-url", help="SQLAlchemy URL (default SQLite in the data directory)")
    s.add_argument("--chain-rpc-url", help="chain JSON-RPC URL; without it nothing is anchored on chain")
    s.add_argument("--deployment-file", help="registries' deployment JSON (with --chain-rpc-url)")
    s.add_argument("--types-dir", help="directory of extra credential type files (YAML or JSON)")
    s.add_argument("--environment", choices=["dev", "test", "prod"], help="prod refuses development secrets")
    s.set_defaults(func=serve)


def app_from_env() -> Any:
    """uvicorn factory: settings from the environment, then the app. Runs in each worker."""
    from issuer.api.app import create_app
    from issuer.settings import IssuerSettings

    return create_app(IssuerSettings())


def serve(args: argparse.Namespace) -> int:
    from civicpass import _serving
    from issuer.settings import IssuerSettings

    if args.base_url is None and "CIVICPASS_ISSUER_BASE_URL" not in os.environ:
        args.base_url = f"http://{args.host}:{args.port}"
    if args.database_url is None and "CIVICPASS_ISSUER_DATABASE_URL" not in os.environ:
        args.database_url = f"sqlite:///{Path(args.data_dir) / 'issuer.db'}"
    for option, field in _OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            os.environ[f"CIVICPASS_ISSUER_{field.upper()}"] = str(value)
    try:
        settings = IssuerSettings()  # validate once here so a bad option fails before workers start
    except ValueError as exc:
        print(f"civicpass issuer: {exc}")
        return 2
    print(f"civicpass issuer on {settings.base_url} (metadata: /.well-known/openid-credential-issuer)", flush=True)
    _serving.run(_serving.config(
        "civicpass.issuer_cmd:app_from_env", factory=True, host=args.host, port=args.port,
        workers=max(1, args.workers), log_level="warning", header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s, keep_alive_s=settings.http_keep_alive_s))
    return 0
