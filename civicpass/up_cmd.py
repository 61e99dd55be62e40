"""``civicpass up``: the whole system on embedded defaults."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="run the whole system (embedded chain, issuer, verifier) on embedded defaults")
    p.add_argument("--data-dir", default=".civicpass", help="where state is kept (default ./.civicpass)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    parts = [
        ("credential formats (credcore)", "ready: try `civicpass inspect` and `civicpass verify`"),
        ("embedded chain", "not yet"),
        ("issuer service", "not yet"),
        ("verifier service and counter page", "not yet"),
        ("wallet", "not yet"),
    ]
    print(f"civicpass: data directory {args.data_dir}")
    for name, state in parts:
        print(f"  {name:<36} {state}")
    return 0
