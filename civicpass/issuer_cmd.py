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
    _register_users(isub)


def app_from_env() -> Any:
    """uvicorn factory: settings from the environment, then the app. Runs in each worker."""
    from httpedge.logs import configure_logging
    from issuer.api.app import create_app
    from issuer.settings import IssuerSettings

    configure_logging("issuer")  # in the worker: JSON lines, the same as under civicpass up
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


def _register_users(isub: Any) -> None:
    u = isub.add_parser("users", help="person accounts of the desk (/desk): clerks, operators, auditors")
    usub = u.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    parsers = {
        "add": usub.add_parser("add", help="add a person (the password is read from stdin or asked for)"),
        "list": usub.add_parser("list", help="list the people and their roles"),
        "disable": usub.add_parser("disable", help="disable a person (ends their sessions)"),
        "reset": usub.add_parser("reset", help="set a new password (re-enables; ends their sessions)"),
    }
    for name, p in parsers.items():
        p.add_argument("--data-dir", default=".civicpass", help="state directory of the default SQLite database")
        p.add_argument("--database-url", help="SQLAlchemy URL of the issuer database")
        if name != "list":
            p.add_argument("username")
        if name in {"add", "reset"}:
            p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        p.set_defaults(func=users)
    parsers["add"].add_argument("--role", required=True, choices=["clerk", "operator", "auditor"])
    parsers["add"].add_argument("--name", required=True, help="display name, as the audit log shows it")
    parsers["add"].add_argument("--office", required=True, help="the office (a clerk sees what it issued)")


def users(args: argparse.Namespace) -> int:
    import getpass
    import sys
    import time

    from credcore.errors import CredError, MalformedInputError
    from issuer.desk import accounts
    from issuer.store.db import make_engine, make_sessionmaker, upgrade

    url = args.database_url or os.environ.get("CIVICPASS_ISSUER_DATABASE_URL")
    if url is None:
        refusal = _no_issuer_database(Path(args.data_dir), creating=args.users_command == "add")
        if refusal:
            print(f"civicpass issuer users: {refusal}", file=sys.stderr)
            return 2
        url = f"sqlite:///{Path(args.data_dir) / 'issuer.db'}"
    engine = make_engine(url)
    upgrade(engine)
    actor = f"cli:{getpass.getuser()}"[:64]
    now = int(time.time())

    def password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        try:
            first = getpass.getpass("password: ")
            again = getpass.getpass("again: ")
        except EOFError:  # no terminal and nothing on stdin: a script that forgot --password-stdin
            raise MalformedInputError("no password given: type it at the prompt, or pipe it with --password-stdin") \
                from None
        if again != first:
            raise SystemExit("civicpass issuer users: the passwords differ")
        return first

    try:
        with make_sessionmaker(engine).begin() as session:
            if args.users_command == "list":
                for user in accounts.list_users(session):
                    state = "disabled" if user.disabled else "active"
                    print(f"{user.username}\t{user.role}\t{user.office}\t{user.display_name}\t{state}")
            elif args.users_command == "add":
                accounts.add_user(session, username=args.username, display_name=args.name, role=args.role,
                                  office=args.office, password=password(), now=now, actor=actor)
                print(f"added {args.username} ({args.role}, {args.office})")
            elif args.users_command == "disable":
                accounts.disable_user(session, args.username, now=now, actor=actor)
                print(f"disabled {args.username}")
            else:
                accounts.reset_password(session, args.username, password(), now=now, actor=actor)
                print(f"new password set for {args.username}")
    except CredError as exc:
        print(f"civicpass issuer users: {exc.detail}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _no_issuer_database(data_dir: Path, *, creating: bool) -> str | None:
    """Why the SQLite database in ``data_dir`` is the wrong one to change, if it is: ``civicpass up`` keeps each
    issuer's database in ``issuers/NAME/`` of its data directory, and an account added beside them would live in
    a database no issuer reads."""
    if (data_dir / "issuer.db").exists():
        return None
    issuers = sorted(p.name for p in (data_dir / "issuers").glob("*") if (p / "issuer.db").exists())
    if issuers:
        return (f"{data_dir} is the state of `civicpass up`, whose issuers keep their accounts in "
                f"{data_dir / 'issuers'}/NAME: pass --data-dir {data_dir / 'issuers' / issuers[0]} "
                f"(issuers here: {', '.join(issuers)})")
    if not creating:
        return f"no issuer database at {data_dir / 'issuer.db'}: pass the issuer's --data-dir or --database-url"
    return None
