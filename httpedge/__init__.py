"""The HTTP edge shared by the issuer and the verifier: error mapping, body limit, middlewares, health,
readiness and metrics endpoints, request logs.

It imports only credcore, the web framework and prometheus-client, so the two services share it and stay
independent of each other (import-linter holds both directions). :func:`install` is the one way a service
puts its app behind the edge; call it after adding any middleware of the service's own, which then runs
inside the edge's.

A route on which a service's throughput rests (the verifier's ``POST /v1/verify``) can be served ahead of the
framework: an :class:`EdgeApp` hands it, behind the same request observer and body limit, to a plain ASGI
endpoint, without passing the framework's own layers (error middleware, telemetry, routing, dependency
injection) and the edge's CORS, which together cost more per request than the verification work around them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from httpedge.cors import WalletCors
from httpedge.health import Readiness
from httpedge.limits import BodyLimit
from httpedge.metrics import forget_this_process, metrics_endpoint
from httpedge.observe import RequestObserver
from httpedge.problems import GROUP_STATUS, PROBLEM_BASE, Problem, ProblemMap, problem, problem_responses

__all__ = ["GROUP_STATUS", "PROBLEM_BASE", "BodyLimit", "EdgeApp", "Problem", "ProblemMap", "Readiness", "WalletCors",
           "install", "problem", "problem_responses"]


class EdgeApp(FastAPI):
    """FastAPI, with the routes in :attr:`fast_routes` (``(method, path)``, exact) answered before its layers;
    :func:`install` fills them. The endpoint finds this app as ``scope["app"]``, as a route would."""

    fast_routes: dict[tuple[str, str], ASGIApp]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_routes = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fast = self.fast_routes.get((scope["method"], scope["path"]))
            if fast is not None:
                scope["app"] = self
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def install(app: FastAPI, *, problems: ProblemMap, body_limit: int | Callable[[str], int],
            wallet_routes: tuple[str, ...] = (), not_wallet_routes: tuple[str, ...] = (),
            readiness: Readiness | None = None, health: Callable[[], dict[str, Any]] | None = None,
            metrics_token: Callable[[], str | None] = lambda: None,
            collectors: Callable[[], Iterable[Collector]] = tuple,
            fast_routes: Mapping[tuple[str, str], ASGIApp] | None = None) -> None:
    """Error handlers; ``/healthz``, ``/readyz`` and ``/metrics``; then the middlewares, outermost last: CORS
    for ``wallet_routes`` (path prefixes, minus ``not_wallet_routes``) so a preflight never reaches the body
    limit or the routes, and around everything the request observer (request id, access log, latency).

    ``fast_routes`` (an :class:`EdgeApp` only): endpoints served ahead of the framework behind the same request
    observer and body limit. An endpoint names its route on the scope (``scope["route"]``, for logs and
    metrics) and renders its own errors (:meth:`ProblemMap.respond`); none may be a wallet route."""
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
    if fast_routes:
        if not isinstance(app, EdgeApp):
            raise TypeError("fast routes need an EdgeApp")
        if wallet_routes and any(path.startswith(wallet_routes) for _, path in fast_routes):
            raise ValueError("a wallet route needs CORS, which fast routes do not pass")
        for key, endpoint in fast_routes.items():
            app.fast_routes[key] = RequestObserver(BodyLimit(endpoint, limit=body_limit))
    app.add_middleware(BodyLimit, limit=body_limit)
    if wallet_routes:
        app.add_middleware(WalletCors, prefixes=wallet_routes, exclude=not_wallet_routes)
    app.add_middleware(RequestObserver)
