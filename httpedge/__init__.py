"""The HTTP edge shared by the issuer and the verifier: error mapping, body limit, middlewares, health,
readiness and metrics endpoints, request logs.

It imports only credcore, the web framework and prometheus-client, so the two services share it and stay
independent of each other (import-linter holds both directions). :func:`install` is the one way a service
puts its app behind the edge; call it after adding any middleware of the service's own, which then runs
inside the edge's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import FastAPI
from prometheus_client.registry import Collector

from httpedge.cors import WalletCors
from httpedge.health import Readiness
from httpedge.limits import BodyLimit
from httpedge.metrics import forget_this_process, metrics_endpoint
from httpedge.observe import RequestObserver
from httpedge.problems import GROUP_STATUS, PROBLEM_BASE, Problem, ProblemMap, problem, problem_responses

__all__ = ["GROUP_STATUS", "PROBLEM_BASE", "BodyLimit", "Problem", "ProblemMap", "Readiness", "WalletCors",
           "install", "problem", "problem_responses"]


def install(app: FastAPI, *, problems: ProblemMap, body_limit: int | Callable[[str], int],
            wallet_routes: tuple[str, ...] = (), not_wallet_routes: tuple[str, ...] = (),
            readiness: Readiness | None = None, health: Callable[[], dict[str, Any]] | None = None,
            metrics_token: Callable[[], str | None] = lambda: None,
            collectors: Callable[[], Iterable[Collector]] = tuple) -> None:
    """Error handlers; ``/healthz``, ``/readyz`` and ``/metrics``; then the middlewares, outermost last: CORS
    for ``wallet_routes`` (path prefixes, minus ``not_wallet_routes``) so a preflight never reaches the body
    limit or the routes, and around everything the request observer (request id, access log, latency)."""
    problems.install(app)
    ready = readiness or Readiness({})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", **(health() if health else {})}

    app.get("/readyz", include_in_schema=False)(ready.readyz)
    app.get("/metrics", include_in_schema=False)(metrics_endpoint(metrics_token, collectors))

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state, ready.running():
            try:
                yield state
            finally:
                forget_this_process()

    app.router.lifespan_context = lifespan
    app.add_middleware(BodyLimit, limit=body_limit)
    if wallet_routes:
        app.add_middleware(WalletCors, prefixes=wallet_routes, exclude=not_wallet_routes)
    app.add_middleware(RequestObserver)
