"""Prometheus metrics (prometheus-client), correct with several worker processes.

A service started with several workers sets ``PROMETHEUS_MULTIPROC_DIR`` before they start
(:func:`prepare_multiprocess`); each worker then writes its counters and histograms to files there and a
scrape of any worker sums every worker's (prometheus-client's multiprocess mode). Values that are state rather
than events (queue depth, snapshot age, lags) are read at scrape time by the service's collector, from the
database or the answering worker's trust snapshot, so they are right whichever worker answers.

The metric objects are module-level, as prometheus-client expects: in multiprocess mode a value is keyed by
metric name per process, so one object per name per process is the only correct shape.

``/metrics`` answers on the service's own port: with a token configured, to a bearer of it; without one, only
to loopback clients.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from httpedge.problems import problem

__all__ = ["CHAIN_RPC_ERRORS", "REQUEST_SECONDS", "forget_this_process", "metrics_endpoint", "prepare_multiprocess"]

_ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_SECONDS = Histogram(
    "civicpass_http_request_duration_seconds", "HTTP request latency by method, route template and status",
    ("method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

#: Both services call the chain; one definition, since a test process may load both.
CHAIN_RPC_ERRORS = Counter("civicpass_chain_rpc_errors_total", "Chain calls that failed, by service and call",
                           ("service", "call"))


def prepare_multiprocess(prefix: str) -> Path:
    """Point prometheus-client at a fresh directory for this run's workers (call before they start).
    Values of an earlier run must not be summed into this one, so the directory is new each time."""
    path = Path(tempfile.mkdtemp(prefix=f"civicpass-{prefix}-metrics-"))
    os.environ[_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def forget_this_process() -> None:
    """At a worker's exit: its live gauges stop counting (its counters stay in the sum, as they should)."""
    if os.environ.get(_ENV):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _allowed(request: Request, token: str | None) -> bool:
    if token is not None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's in-process test client


def metrics_endpoint(token: Callable[[], str | None],
                     collectors: Callable[[], Iterable[Collector]]) -> Callable[[Request], object]:
    """The ``GET /metrics`` handler: every worker's metrics plus the service's scrape-time collectors."""

    def render() -> bytes:
        base = REGISTRY
        if os.environ.get(_ENV):
            base = CollectorRegistry()
            MultiProcessCollector(base)  # type: ignore[no-untyped-call]
        extra = CollectorRegistry(auto_describe=False)
        for collector in collectors():
            extra.register(collector)
        return generate_latest(base) + generate_latest(extra)

    async def metrics(request: Request) -> Response:
        if not _allowed(request, token()):
            return problem(403, "forbidden", "Metrics are not open to this client",
                           "metrics need the configured bearer token, or a loopback client when none is set",
                           request.url.path)
        # Collectors read the database: off the event loop.
        body = await anyio.to_thread.run_sync(render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
