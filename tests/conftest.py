"""Shared fixtures: gates for optional real parts (node, PostgreSQL, Redis, chromium) and the vectors.

Constants and :func:`require` live in ``tests/support.py`` (import them from there); they are re-exported
here for fixtures only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import FIXED_NOW, ROOT, SHARED_VECTORS, port_open, require

__all__ = ["FIXED_NOW", "ROOT", "SHARED_VECTORS", "port_open", "require"]


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
