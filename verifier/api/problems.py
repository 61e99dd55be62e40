"""The verifier's place in the shared HTTP edge (:mod:`httpedge.problems`): statuses for its own error classes.

The core groups (400 malformed, 422 refused, 409 conflict, 404 not found, 503 unavailable) are the edge's;
here only what HTTP says more precisely about the verifier's own refusals. A replay-cache or request
database that cannot be reached is a 503 like any unavailable dependency.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from credcore.errors import CredError
from httpedge import ProblemMap
from verifier.errors import RequestExpiredError, UnsupportedMediaError

__all__ = ["PROBLEMS", "status_for"]

PROBLEMS = ProblemMap({
    UnsupportedMediaError: 415,
    RequestExpiredError: 410,
}, unavailable=(OperationalError,))


def status_for(exc: CredError) -> int:
    return PROBLEMS.status_for(exc)
