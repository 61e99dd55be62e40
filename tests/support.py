"""Constants, gates and servers shared by the tests: import as ``from support import ...``.

(``from conftest import ...`` is ambiguous once several ``conftest.py`` files exist, so shared names live here;
``pyproject.toml`` puts ``tests/`` on ``sys.path``.)

A test that needs node, PostgreSQL, Redis or chromium calls :func:`require`. On a developer machine
without that part it is skipped with the reason; under CI (``CIVICPASS_REQUIRE_ALL=1``) it fails instead,
so CI can never pass by skipping.

A test that needs a service as a real process (uvicorn as a user starts it: its own workers, settings and port)
runs it with :func:`serve_process` or :func:`serve_verifier`, which wait until it answers and stop it afterwards;
one that serves an app in its own process uses :func:`serve_app`.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
FIXED_NOW = 1_795_000_000  # 2026-11-18T...Z: a fixed clock for deterministic tests
#: Debian's Chromium as every browser test launches it: headless, and quiet (no update or sync traffic).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def require(available: bool, what: str) -> None:
    """Skip (or, under CI, fail) the calling test when ``what`` is not available."""
    if available:
        return
    if os.environ.get("CIVICPASS_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required under CIVICPASS_REQUIRE_ALL=1 but is not available")
    pytest.skip(f"{what} not available")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ServerProcess:
    """A server process answering on ``url`` (loopback, ``port``)."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def _answered_200(r: httpx.Response) -> bool:
    return r.status_code == 200


@contextmanager
def serve_process(argv: list[str], *, ready: str, log: Path, env: Mapping[str, str] | None = None,
                  cwd: Path | None = ROOT, within: float = 30.0, stop_within: float = 20.0,
                  answered: Callable[[httpx.Response], bool] = _answered_200) -> Iterator[ServerProcess]:
    """Run ``argv --port N`` on a free loopback port, its output in ``log``, until ``GET ready`` is ``answered``;
    fail with the log's tail if it exits or does not answer within ``within`` seconds. Terminated on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + within
        while True:
            try:
                if answered(httpx.get(f"{url}{ready}", timeout=1)):
                    break
            except httpx.HTTPError:
                pass
            code = proc.poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with {code}" if code is not None else f"did not answer {ready} within {within} s"
                pytest.fail(f"{' '.join(argv[1:])} {why}:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield ServerProcess(url, port, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_within)
        except subprocess.TimeoutExpired:
            proc.kill()  # not left behind; the test still fails on the timeout
            proc.wait()
            raise


def serve_verifier(data: Path, *args: str, settings: Mapping[str, object] | None = None,
                   clear: tuple[str, ...] = ("CIVICPASS_VERIFIER_",), ready: str = "/v1/trust",
                   within: float = 30.0, answered: Callable[[httpx.Response], bool] = _answered_200,
                   stop_within: float = 20.0) -> AbstractContextManager[ServerProcess]:
    """``civicpass verifier serve --data-dir data *args`` through :func:`serve_process`, its log ``data/server.log``.
    Its environment is this one without the variables that start with one of ``clear``, plus ``settings`` as
    ``CIVICPASS_VERIFIER_<NAME>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(clear)}
    env.update({f"CIVICPASS_VERIFIER_{name.upper()}": str(value) for name, value in (settings or {}).items()})
    return serve_process([sys.executable, "-m", "civicpass", "verifier", "serve", "--data-dir", str(data), *args],
                         ready=ready, log=data / "server.log", env=env, within=within, stop_within=stop_within,
                         answered=answered)


@contextmanager
def serve_app(make_app: Callable[[str], Any]) -> Iterator[str]:
    """``make_app(url)`` served by uvicorn in a thread of this process on a free loopback port: yields the URL once
    it accepts connections, stops it on exit."""
    import threading

    import uvicorn

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(make_app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail(f"uvicorn in a thread did not start on {url}")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def resident_snapshot(data: Path, *, name: str = "City", status_bits: int = 64,
                      status_index: int = 3) -> tuple[Any, Any, bytes]:
    """A trust snapshot at ``data/trust-snapshot.json`` (one issuer, fresh for an hour) and a CP1 resident
    credential it trusts: returns the issuer key, the holder key and the credential."""
    from credcore.cp1 import issue_cp1
    from credcore.keys import SigningKey
    from credcore.status_list import StatusList
    from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
    from verifier.snapshot_file import save_snapshot

    issuer_id = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"
    resident = "urn:civicpass:ResidentCredential:1"
    issuer, holder, now = SigningKey.generate(), SigningKey.generate(), int(time.time())
    snap = TrustSnapshot(
        issuers=(TrustedIssuer(issuer_id, name, frozenset({resident}), (IssuerKey(issuer.public_key),)),),
        status_lists=(StatusListRecord(issuer_id, 1, "https://issuer.test/status-lists/1",
                                       StatusList.empty(status_bits)),),
        block_number=1, synced_at=now + 3600)
    save_snapshot(data / "trust-snapshot.json", snap)
    credential = issue_cp1({"city": 26000, "district": 26350, "age_over_19": True}, profile="resident-basic",
                           signer=issuer, holder_key=holder.public_key, status_list_id=1, status_index=status_index,
                           iat=now - 60, exp=now + 86_400)
    return issuer, holder, credential


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
