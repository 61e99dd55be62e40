"""``/healthz`` and ``/readyz`` for both services.

``/healthz`` says the process answers; it calls nothing. ``/readyz`` says whether each dependency works,
from probes that run in the background (one thread each, never on the event loop), every ``interval``
seconds, each given ``timeout`` seconds: a probe that has not answered by then marks its component down
until it does, and a hung probe is never started twice. A request only reads the last states, so both
endpoints answer at once even while the chain hangs. Until every probe has answered once, the service is
not ready.

A probe is a plain function: it returns ``None`` when its component is up, or a short reason (a stable
code, never data) when it is down; raising counts as down too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["Readiness"]

log = logging.getLogger("civicpass.health")
Probe = Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class ComponentState:
    state: str  # "up", "down" or "unknown" (not probed yet)
    reason: str | None = None
    checked_at: float | None = None


class Readiness:
    def __init__(self, probes: Mapping[str, Probe], *, timeout: float = 2.0, interval: float = 1.0) -> None:
        self.probes = dict(probes)
        self.timeout = timeout
        self.interval = interval
        self.states: dict[str, ComponentState] = {name: ComponentState("unknown") for name in self.probes}
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[str, asyncio.Future[str | None]] = {}
        self._stopped = False

    @property
    def ready(self) -> bool:
        return all(s.state == "up" for s in self.states.values())

    def to_json(self) -> dict[str, Any]:
        now = time.time()
        return {"status": "ready" if self.ready else "not_ready",
                "components": {name: {"state": s.state, **({"reason": s.reason} if s.reason else {}),
                                      **({"age_s": round(now - s.checked_at, 1)} if s.checked_at else {})}
                               for name, s in self.states.items()}}

    async def _watch(self, name: str, probe: Probe) -> None:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        while not self._stopped:
            future = self._inflight[name] = loop.run_in_executor(self._pool, _run, probe)
            # asyncio.wait, not wait_for: it never cancels the probe and never swallows our own cancellation
            done, _ = await asyncio.wait({future}, timeout=self.timeout)
            if done:
                self._set(name, future.result())
            else:
                self._set(name, "timeout")
                await asyncio.wait({future})  # a hung probe is waited for, never started twice
            await asyncio.sleep(self.interval)

    def _set(self, name: str, reason: str | None) -> None:
        before = self.states[name].state
        self.states[name] = ComponentState("up" if reason is None else "down", reason, time.time())
        if before != self.states[name].state and (before != "unknown" or reason is not None):
            log.warning("%s is %s%s", name, self.states[name].state, f" ({reason})" if reason else "")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        if not self.probes:
            yield
            return
        self._pool = ThreadPoolExecutor(max_workers=len(self.probes), thread_name_prefix="readiness")
        self._stopped = False
        tasks = [asyncio.create_task(self._watch(n, p), name=f"readiness-{n}") for n, p in self.probes.items()]
        try:
            yield
        finally:
            self._stopped = True
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            # Probes in flight may hold a database connection the app is about to close: let them finish, but
            # a probe hung on the chain must not hold the exit longer than its timeout.
            running = [f for f in self._inflight.values() if not f.done()]
            if running:
                await asyncio.wait(running, timeout=self.timeout)
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def readyz(self, _: Request) -> JSONResponse:
        return JSONResponse(self.to_json(), status_code=200 if self.ready else 503,
                            headers={"Cache-Control": "no-store"})


def _run(probe: Probe) -> str | None:
    try:
        return probe()
    except Exception as exc:
        code = getattr(exc, "code", None)
        return code if isinstance(code, str) else type(exc).__name__
