"""The HTTP edge shared by the issuer and the verifier: error mapping, body limit, middlewares.

It imports only credcore and the web framework, so the two services share it and stay independent of
each other (import-linter holds both directions). :func:`install` is the one way a service puts its app
behind the edge; call it after adding any middleware of the service's own, which then runs inside it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from httpedge.cors import WalletCors
from httpedge.limits import BodyLimit
from httpedge.problems import GROUP_STATUS, PROBLEM_BASE, Problem, ProblemMap, problem, problem_responses

__all__ = [
    "GROUP_STATUS",
    "PROBLEM_BASE",
    "BodyLimit",
    "Problem",
    "ProblemMap",
    "WalletCors",
    "install",
    "problem",
    "problem_responses",
]


def install(app: FastAPI, *, problems: ProblemMap, body_limit: int | Callable[[str], int],
            wallet_routes: tuple[str, ...] = (), not_wallet_routes: tuple[str, ...] = ()) -> None:
    """Error handlers, then the middlewares, outermost last: CORS for ``wallet_routes`` (path prefixes, minus
    ``not_wallet_routes``) so a preflight never reaches the body limit or the routes, then the body limit."""
    problems.install(app)
    app.add_middleware(BodyLimit, limit=body_limit)
    if wallet_routes:
        app.add_middleware(WalletCors, prefixes=wallet_routes, exclude=not_wallet_routes)
