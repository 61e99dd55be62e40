"""``civicpass``: one command line for operators, integrators and developers.

Each sub-command lives in its own module with a ``register(subparsers)`` function; this file only
assembles them. Exit codes: 0 success, 1 a negative answer (e.g. not verified), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules under ``civicpass`` that add sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (  # helpers: add your module name to this tuple
    "up_cmd", "inspect_cmd", "chain_cmd", "verifier_cmd", "wallet_cmd", "issuer_cmd",
    "governance_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civicpass",
        description="City mobile ID and verifiable credentials, anchored on an Ethereum-compatible chain.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"civicpass.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
