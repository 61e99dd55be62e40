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


def slowloris(port: int, count: int, *, body: bool = False) -> list[socket.socket]:
    """``count`` connections that each start a request and stall: half a header block, or (``body=True``)
    whole headers announcing a body that never comes. The caller closes them."""
    head = b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(head + (b"Content-Length: 1000\r\n\r\n{" if body else b"X-Slow: "))
        socks.append(s)
    return socks


def wait_all_closed(socks: list[socket.socket], within: float) -> float:
    """Seconds until the server has closed every one of ``socks`` (EOF or reset); fails after ``within``."""
    import select
    import time

    start, open_ = time.monotonic(), set(socks)
    while open_:
        left = within - (time.monotonic() - start)
        if left <= 0:
            pytest.fail(f"{len(open_)} of {len(socks)} stalled connections still open after {within} s")
        ready, _, _ = select.select(list(open_), [], [], min(left, 0.5))
        for s in ready:
            try:
                while s.recv(4096):  # a 408 answer may come first, then the end of the stream
                    pass
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                pass
            open_.discard(s)
    return time.monotonic() - start
