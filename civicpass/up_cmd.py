"""``civicpass up``: the whole system on embedded defaults, in one command, until Ctrl-C.

Starts the chain (embedded py-evm by default, ``--chain anvil``, or an outside JSON-RPC URL) with the
registries deployed, accredits two demo issuers (a city hall issuing resident credentials; a market support
centre issuing merchant and grant credentials), and runs each issuer and the verifier as child processes
(see :mod:`civicpass._up_stack` for why, and how Ctrl-C stays clean). State lives in ``--data-dir``
(:mod:`civicpass._up_layout`), so a second run continues where the first stopped. The dev admin tokens
are in a 0600 file whose path is printed; a token itself is never printed or logged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

READY_LINE = "civicpass up: ready"


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="run the whole system (chain, issuers, verifier) on embedded defaults")
    p.add_argument("--data-dir", type=Path, default=Path(".civicpass"), help="where state is kept (./.civicpass)")
    p.add_argument("--chain", default="embedded", help="embedded (default, py-evm), anvil, or a JSON-RPC URL")
    p.add_argument("--db", metavar="URL", help="PostgreSQL URL (one schema per service); default SQLite files")
    p.add_argument("--demo", action="store_true", help="also fill a demo resident and merchant wallet, show a QR")
    ports = p.add_argument_group("ports on 127.0.0.1 (default: last run's, else the standard ones; 0 = any free)")
    ports.add_argument("--chain-port", type=int, help="chain JSON-RPC (8545)")
    ports.add_argument("--issuer-port", type=int, help="city hall issuer (8100)")
    ports.add_argument("--market-port", type=int, help="market support centre issuer (8101)")
    ports.add_argument("--verifier-port", type=int, help="verifier and counter page (8200)")
    ports.add_argument("--wallet-port", type=int, help="resident web wallet (8300)")
    p.set_defaults(func=run)


def say(line: str) -> None:
    """One write per line: the children write their log lines to the same terminal."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from civicpass._up_layout import Layout, UpError, chain_kind
    from civicpass._up_stack import Supervisor
    from credcore.errors import CredError

    try:
        kind = chain_kind(args.chain)
        layout = Layout(args.data_dir)
        requested = {"chain": args.chain_port, "cityhall": args.issuer_port, "market": args.market_port,
                     "verifier": args.verifier_port, "wallet": args.wallet_port}
        ports = layout.resolve_ports(args.chain, requested)
        with Supervisor() as sup:  # leaving the block stops every child, in order, whatever happened
            code = _serve(sup, args, layout, kind, ports)
            say("civicpass up: stopping")
    except UpError as exc:
        print(f"civicpass up: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, CredError) as exc:
        print(f"civicpass up: {exc}", file=sys.stderr)
        return 1
    say("civicpass up: stopped")
    return code


def _serve(sup: Any, args: argparse.Namespace, layout: Any, kind: str, ports: dict[str, int]) -> int:
    """Start everything, then wait for Ctrl-C/SIGTERM (0) or a child that dies on its own (1)."""
    from civicpass._up_stack import Stopped

    try:
        _start(sup, args, layout, kind, ports)
    except Stopped:
        return 0
    while not sup.stop.wait(0.5):
        dead = sup.dead()
        if dead is not None:
            say(f"civicpass up: {dead.name} exited with code {dead.proc.returncode}; stopping everything")
            return 1
    return 0


def _start(sup: Any, args: argparse.Namespace, layout: Any, kind: str, ports: dict[str, int]) -> None:
    from civicpass import _up_chain
    from civicpass._up_layout import DEMO_ISSUERS, UpError, create_schemas, database_url, port_free

    host = layout.host
    taken = [f"{part} port {port}" for part, port in ports.items()
             if not (part == "chain" and kind == "url") and not port_free(host, port)]
    if taken:
        raise UpError(f"{', '.join(taken)} in use on {host}: stop what uses it, or pass the port option (0 = any)")
    if args.db:
        database_url(args.db, Path(), "x")  # refuse a non-PostgreSQL URL before starting anything
        create_schemas(args.db, [f"civicpass_{i.name}" for i in DEMO_ISSUERS] + ["civicpass_verifier"])
    secrets = layout.secrets()
    if kind == "url":
        say(f"civicpass up: deploying the registries on {args.chain} (or reusing them) ...")
        _up_chain.provision_external(layout, args.chain)
        rpc_url = args.chain
    else:
        what = "the embedded chain (py-evm)" if kind == "embedded" else "anvil"
        say(f"civicpass up: starting {what} (and, on a first run, deploying the registries) ...")
        _, rpc_url = _up_chain.start_chain_child(sup, layout, kind, ports["chain"])
    urls = {i.name: f"http://{host}:{ports[i.name]}" for i in DEMO_ISSUERS}
    newly = _up_chain.accredit_demo_issuers(layout.deployment, urls)
    say(f"civicpass up: demo issuers accredited on chain ({', '.join(newly) or 'already, from the last run'})")

    layout.record_issuer_urls(urls)
    say("civicpass up: starting the issuers and the verifier ...")
    _start_issuers(sup, args, layout, urls, ports=ports, rpc_url=rpc_url, secrets=secrets)
    _desk_people(args, layout)
    verifier_url = _start_verifier(sup, args, layout, ports, rpc_url)
    wallet_url = _start_wallet(sup, layout, ports)
    target = _up_chain.block_number(rpc_url)  # the issuers' keys are registered by now
    say(f"civicpass up: syncing the verifier's trust snapshot to block {target} ...")
    sup.wait_for("the verifier's trust snapshot", _synced(verifier_url, target), sup.services[-1])

    say("")
    say(f"  issuer admin API  {urls['cityhall']}/v1   city hall: ResidentCredential")
    say(f"                    {urls['market']}/v1   market support centre: MerchantCredential, "
        "GrantEligibilityCredential")
    say(f"  desk              {urls['cityhall']}/desk   {urls['market']}/desk   (clerk, operator, auditor; "
        "passwords in the dev secrets file)")
    say(f"  counter page      {verifier_url}/counter")
    if wallet_url:
        say(f"  resident wallet   {wallet_url}/")
    say(f"  verify API        {verifier_url}/v1/verify   (policies: {verifier_url}/v1/policies)")
    say(f"  chain RPC         {rpc_url}")
    say(f"  deployment        {layout.deployment}")
    say(f"  dev admin tokens  {layout.secrets_path}   (readable by you only; Authorization: Bearer <token>)")
    say(f"  logs              one JSON line per request below; the chain's own log is {layout.chain_log}")
    if args.demo:
        from civicpass._up_demo import make_demo_wallets

        say("civicpass up: filling the demo wallets through OpenID4VCI ...")
        for line in make_demo_wallets(layout, urls, secrets):
            say(line)
    say(f"{READY_LINE}; state in {layout.root}; Ctrl-C stops everything")


def _start_issuers(sup: Any, args: argparse.Namespace, layout: Any, urls: dict[str, str], *, ports: dict[str, int],
                   rpc_url: str, secrets: dict[str, Any]) -> None:
    from civicpass import _up_chain
    from civicpass._up_desk import token_offices
    from civicpass._up_layout import DEMO_ISSUERS, ISSUER_DEFAULTS, database_url
    from civicpass._up_stack import child_env, http_ok

    started = []
    for issuer in DEMO_ISSUERS:
        own = secrets["issuers"][issuer.name]
        db_file = layout.root / "issuers" / issuer.name / "issuer.db"
        settings = {
            "BASE_URL": urls[issuer.name], "ISSUER_NAME": issuer.title,
            "DATABASE_URL": database_url(args.db, db_file, f"civicpass_{issuer.name}"),
            "KEY_PASSPHRASE": own["key_passphrase"],
            "CLERK_TOKENS": f'["{own["clerk_token"]}"]', "OPERATOR_TOKENS": f'["{own["operator_token"]}"]',
            "TOKEN_OFFICES": token_offices(issuer, own),
            "CHAIN_RPC_URL": rpc_url, "DEPLOYMENT_FILE": str(layout.deployment),
            "CHAIN_ACCOUNT_KEY": _up_chain.issuer_account_key(layout.deployment, issuer.account_role),
        }
        env = child_env(settings, prefix="CIVICPASS_ISSUER_", defaults=ISSUER_DEFAULTS)
        fresh = args.db is not None or not db_file.exists()  # a fresh issuer registers a new key at start
        if fresh:
            _up_chain.wait_until_chain_time_passed(rpc_url)
        argv = ["-m", "civicpass._up_serve", "issuer", issuer.name, layout.host, str(ports[issuer.name])]
        child = sup.python(issuer.name, argv, env)
        started.append((issuer, child))
        if fresh:  # one at a time, each after its first status list: see wait_until_chain_time_passed
            sup.wait_for(f"issuer {issuer.name}", http_ok(f"{urls[issuer.name]}/status-lists/1"), child)
    for issuer, child in started:
        sup.wait_for(f"issuer {issuer.name}", http_ok(f"{urls[issuer.name]}/healthz"), child)


def _desk_people(args: argparse.Namespace, layout: Any) -> None:
    from civicpass._up_desk import ensure_desk_people
    from civicpass._up_layout import DEMO_ISSUERS, database_url

    ensure_desk_people(layout, {i.name: database_url(args.db, layout.root / "issuers" / i.name / "issuer.db",
                                                     f"civicpass_{i.name}") for i in DEMO_ISSUERS})


def _start_verifier(sup: Any, args: argparse.Namespace, layout: Any, ports: dict[str, int], rpc_url: str) -> str:
    from civicpass._up_layout import VERIFIER_DEFAULTS, database_url
    from civicpass._up_stack import child_env, http_ok

    url = f"http://{layout.host}:{ports['verifier']}"
    settings = {"HOST": layout.host, "PORT": str(ports["verifier"]), "PUBLIC_URL": url,
                "DATA_DIR": str(layout.root / "verifier"), "DEPLOYMENT_FILE": str(layout.deployment),
                "CHAIN_RPC_URL": rpc_url}
    if args.db:
        settings["DATABASE_URL"] = database_url(args.db, Path(), "civicpass_verifier")
    env = child_env(settings, prefix="CIVICPASS_VERIFIER_", defaults=VERIFIER_DEFAULTS)
    argv = ["-m", "civicpass._up_serve", "verifier", "verifier", layout.host, str(ports["verifier"])]
    child = sup.python("verifier", argv, env)
    sup.wait_for("the verifier", http_ok(f"{url}/v1/trust"), child)
    return url


def _start_wallet(sup: Any, layout: Any, ports: dict[str, int]) -> str | None:
    """The resident web wallet (civicpass.wallet_web), when set-up has built it."""
    from civicpass._up_stack import child_env, http_ok
    from civicpass.wallet_web import DIST

    if not (DIST / "app.js").is_file():
        say("civicpass up: the web wallet is not built (scripts/up builds it with npm); not serving it")
        return None
    url = f"http://{layout.host}:{ports['wallet']}"
    argv = ["-m", "civicpass.wallet_web", layout.host, str(ports["wallet"]), "--chain", str(layout.deployment)]
    child = sup.python("wallet", argv, child_env({}, prefix="CIVICPASS_WALLET_", defaults={}))
    sup.wait_for("the web wallet", http_ok(f"{url}/trust.json"), child)
    return url


def _synced(verifier_url: str, block: int) -> Any:
    import httpx

    seen = [-1]

    def probe() -> bool:
        try:
            r = httpx.get(f"{verifier_url}/v1/trust", timeout=2)
            trust = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False
        at = trust.get("block") or -1
        if seen[0] < at < block:  # a long chain syncs in ranges: show how far it got
            say(f"civicpass up:   the verifier has read up to block {at} of {block}")
        seen[0] = max(seen[0], at)
        return at >= block and trust.get("issuers", 0) >= 2

    return probe
