"""The supervisor behind ``civicpass up``: child processes for the chain, two issuers and the verifier.

Why processes and not uvicorn servers on threads of one process: py-evm and the signing code are
CPU-bound Python, so under one GIL a busy chain would stall the counter; separate processes use every
core, keep each service's state and logs apart, and are exactly what an operator runs in production.

Ctrl-C is made clean by putting every child in its own session: the terminal's SIGINT reaches only this
supervisor, which then stops the parts in order: services first (SIGTERM; uvicorn finishes requests in
flight and the issuers' worker threads stop), the chain last (SIGINT; the journal is closed, anvil dumps
its state). A child that does not stop in time is killed. On Linux each child also gets
``PR_SET_PDEATHSIG``, so even a ``kill -9`` of the supervisor leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0


class Stopped(Exception):
    """Ctrl-C (or SIGTERM) arrived while starting."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One child process: started in its own session, stopped by :meth:`stop` with a signal, then killed."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, out: IO[bytes] | None = None,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.name = name
        self.stop_signal = stop_signal
        linux = sys.platform.startswith("linux")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True, preexec_fn=_die_with_parent if linux else None,  # noqa: PLW1509
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self) -> None:
        if self.alive():
            self.proc.send_signal(self.stop_signal)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)


class Supervisor:
    """Children, a stop event set by SIGINT/SIGTERM, and waiting that gives up when told to stop."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.services: list[Child] = []
        self.chain: Child | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Supervisor:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, lambda *_: self.stop.set())
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def python(self, name: str, args: list[str], env: dict[str, str], *, out: IO[bytes] | None = None,
               stop_signal: int = signal.SIGTERM) -> Child:
        child = Child(name, [sys.executable, *args], env, out=out, stop_signal=stop_signal)
        if name == "chain":
            self.chain = child
        else:
            self.services.append(child)
        return child

    def wait_for(self, what: str, ready: Callable[[], bool], child: Child | None,
                 timeout: float = START_TIMEOUT_S, log: Path | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.stop.is_set():
                raise Stopped
            if child is not None and not child.alive():
                tail = _tail(log) if log else ""
                raise RuntimeError(f"{what} exited with code {child.proc.returncode} while starting{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not get ready within {timeout:.0f} s{_tail(log) if log else ''}")
            self.stop.wait(0.2)

    def dead(self) -> Child | None:
        """A child that exited on its own (a crash), if any."""
        for child in [*self.services, *([self.chain] if self.chain else [])]:
            if not child.alive():
                return child
        return None

    def shutdown(self) -> None:
        """Services first, then the chain; each gets :data:`STOP_TIMEOUT_S` before it is killed."""
        for child in self.services:
            child.signal()
        for child in self.services:
            child.wait(STOP_TIMEOUT_S)
        if self.chain is not None:
            self.chain.signal()
            self.chain.wait(STOP_TIMEOUT_S)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return ":\n  " + "\n  ".join(text) if text else ""


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def child_env(overrides: dict[str, str], *, prefix: str, defaults: dict[str, str]) -> dict[str, str]:
    """The parent's environment, plus ``defaults`` where the user set nothing, plus ``overrides``."""
    env = dict(os.environ)
    for key, value in defaults.items():
        env.setdefault(f"{prefix}{key}", value)
    env.update({f"{prefix}{k}": v for k, v in overrides.items()})
    env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parent.parent)  # run from a checkout without installing
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
