"""Constants and gates shared by the tests: import as ``from support import ...``.

(``from conftest import ...`` is ambiguous once several ``conftest.py`` files exist, so shared names live here;
``pyproject.toml`` puts ``tests/`` on ``sys.path``.)

A test that needs node, PostgreSQL, Redis or chromium calls :func:`require`. On a developer machine
without that part it is skipped with the reason; under CI (``CIVICPASS_REQUIRE_ALL=1``) it fails instead,
so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
FIXED_NOW = 1_795_000_000  # 2026-11-18T...Z: a fixed clock for deterministic tests


def require(available: bool, what: str) -> None:
    """Skip (or, under CI, fail) the calling test when ``what`` is not available."""
    if available:
        return
    if os.environ.get("CIVICPASS_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required under CIVICPASS_REQUIRE_ALL=1 but is not available")
    pytest.skip(f"{what} not available")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
