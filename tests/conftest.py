"""Shared fixtures: a fixed clock, deterministic salts, and gates for optional real parts.

A test that needs node, PostgreSQL, Redis or chromium calls :func:`require`. On a developer machine
without that part it is skipped with the reason; under CI (``CIVICPASS_REQUIRE_ALL=1``) it fails instead,
so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
FIXED_NOW = 1_795_000_000  # 2026-11-19T...Z: a fixed clock for deterministic tests


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


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The project's node_modules with the pinned tools installed (scripts/_setup.sh runs npm ci)."""
    nm = ROOT / "node_modules"
    require(shutil.which("node") is not None and (nm / ".bin").is_dir(), "node with the npm packages")
    return nm


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    require(SHARED_VECTORS.is_dir(), "../shared/vectors")
    return SHARED_VECTORS


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    return os.environ.get("CIVICPASS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def redis_url() -> str:
    require(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    return os.environ.get("CIVICPASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    require(path is not None, "Debian's chromium")
    assert path is not None
    return path
