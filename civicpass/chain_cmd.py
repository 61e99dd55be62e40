"""``civicpass chain up``: a local dev chain with the registries deployed, until Ctrl-C.

The embedded engine (py-evm, no outside binary) is the default; ``--engine anvil`` runs anvil from
node_modules for realistic speed. Both listen on 127.0.0.1 only and fund the public test accounts, so
this command is for development and demos, never for a network other people rely on.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_DEPLOYMENT = Path(".civicpass/deployment.json")
PROGRESS_MARK = "civicpass chain: "  # ``civicpass up`` relays these lines from the chain's log to the terminal


def register(sub: Any) -> None:
    p = sub.add_parser("chain", help="the local development chain")
    actions = p.add_subparsers(dest="chain_action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="start a dev chain on 127.0.0.1, deploy the registries, write the deployment file"
    )
    up.add_argument("--port", type=int, default=8545, help="JSON-RPC port on 127.0.0.1 (default 8545, 0 = any free)")
    up.add_argument("--state", type=Path, help="keep the chain in FILE across restarts (default: in memory only)")
    up.add_argument(
        "--deployment", type=Path, default=DEFAULT_DEPLOYMENT, help=f"deployment file (default {DEFAULT_DEPLOYMENT})"
    )
    up.add_argument("--engine", choices=("embedded", "anvil"), default="embedded", help="default embedded (py-evm)")
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace) -> int:
    from credcore.errors import CredError

    if not 0 <= args.port <= 65535:
        print(f"civicpass chain up: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    stop = threading.Event()
    # both signals just set the event: Ctrl-C works even where SIGINT was inherited as ignored
    # (background jobs of a non-interactive shell), and a signal never lands inside a half-written block
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    chain = None
    try:
        chain = _start(args)
        if not stop.is_set():
            deployment, reused = _provision(chain, args.deployment)
            _describe(chain, deployment, reused, args.deployment)
        while not stop.wait(0.5):
            pass
    except (CredError, OSError) as exc:
        print(f"civicpass chain up: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if chain is not None:
            chain.stop()
            print("civicpass chain: stopped", flush=True)
    return 0


def _start(args: argparse.Namespace) -> Any:
    import chain_local

    if args.engine == "anvil":
        return chain_local.start_anvil(args.port, args.state)
    return chain_local.start_embedded(args.port, args.state)


def _provision(chain: Any, path: Path) -> tuple[Any, bool]:
    from chain_local import provision

    return provision(chain, path, progress=lambda step: print(f"{PROGRESS_MARK}{step}", flush=True))


def _describe(chain: Any, deployment: Any, reused: bool, path: Path) -> None:
    engine = "embedded (py-evm)" if chain.engine == "embedded" else "anvil"
    lines = [
        f"civicpass chain: {engine}, fork {chain.fork}, chain id {chain.chain_id}",
        f"  RPC URL       {chain.url}",
        f"  state         {chain.state_path or 'in memory (lost on exit)'}",
        f"  deployment    {path} ({'reused' if reused else 'deployed'}, from block {deployment.from_block})",
        f"  TrustRegistry   {deployment.trust_registry}",
        f"  AnchorRegistry  {deployment.anchor_registry}",
        f"  StatusRegistry  {deployment.status_registry}",
        "  dev accounts (public test keys: dev only; private keys are in the deployment file):",
        *(f"    {a.role:<9} {a.address}" for a in deployment.accounts[:4]),
        "Ctrl-C stops.",
    ]
    print("\n".join(lines), flush=True)
