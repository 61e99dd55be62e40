"""The outermost middleware of both services: a request id, one access log line and the latency histogram.

``X-Request-ID`` is taken from the request when it is a short token of safe characters (a load balancer's
id), else made here; either way it is returned on the response and attached to every log line written
while the request is served. The access line (logger ``civicpass.access``, INFO) and the histogram name the
route *template* (``/v1/credentials/{credential_id}/{action}``), never the raw path or query, so ids, offer
codes and claims never reach a log or a label; a request no route matched is ``unmatched``.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from httpedge.logs import log_access, request_id
from httpedge.metrics import REQUEST_SECONDS

__all__ = ["RequestObserver", "route_template"]

_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_timers: dict[tuple[str, str, int], Any] = {}  # labels() takes a lock and builds a key per call; keep the children


class _Ids:
    """Request ids unique across processes without a random draw per request: a random prefix per process
    (drawn again in a forked child) and a counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix, self.counter = secrets.token_hex(8), itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()


def route_template(scope: Scope) -> str:
    route = scope.get("route")  # set by Starlette's router on a match (and by the verifier's fast lane)
    return getattr(route, "path", None) or "unmatched"


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("ascii") if _SAFE_ID.fullmatch(value) else None
                break
        rid = rid or _ids.next()
        request_id.set(rid)  # each request runs in its own task, so this never leaks into another request
        started, status = time.perf_counter(), 500
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route, method = route_template(scope), scope["method"]
            if method not in _METHODS:
                method = "OTHER"  # a client's made-up method must not mint new label values
            timer = _timers.get((method, route, status))
            if timer is None:
                timer = _timers[(method, route, status)] = REQUEST_SECONDS.labels(method, route, str(status))
            timer.observe(seconds)
            log_access(method, route, status, round(seconds * 1000, 1))
