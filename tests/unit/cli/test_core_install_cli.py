"""The ``civicpass`` command line of a core install (no services, chain or postgres extras) still starts.

Every sub-command module is imported to build the parser, so a module that imports an extra's package at its top
(web3, py_ecc, eth_abi, FastAPI, SQLAlchemy...) would break every command of a core install, ``inspect`` and
``verify`` included. A subprocess hides the extras' packages (a ``None`` entry in ``sys.modules`` makes their import
fail, as if not installed) and builds the parser.
"""

from __future__ import annotations

import subprocess
import sys

EXTRAS = ["web3", "eth_abi", "eth_account", "eth_utils", "eth_typing", "eth_keys", "py_ecc", "py_arkworks_bls12381",
          "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings", "pydantic", "jsonschema",
          "redis", "orjson", "eth_tester", "eth", "coincurve", "psycopg"]


def test_every_command_parses_without_the_extras():
    code = ("import sys\n"
            f"for name in {EXTRAS!r}: sys.modules[name] = None\n"
            "from civicpass.cli import build_parser\n"
            "parser = build_parser()\n"
            "parser.parse_args(['governance', 'proposals'])\n"
            "print('parsed')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and "parsed" in run.stdout, run.stderr
