"""The issuer's place in the shared HTTP edge (:mod:`httpedge.problems`): statuses for its own error classes.

The core groups (400 malformed, 422 refused, 409 conflict, 404 not found, 503 unavailable) are the edge's;
here only what HTTP says more precisely about the issuer's own refusals. A database that cannot be reached
is a 503 like any unavailable dependency.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from credcore.errors import CredError
from httpedge import ProblemMap
from issuer.errors import (
    ForbiddenError,
    InvalidTokenError,
    OAuthError,
    RefreshLimitError,
    ResourceDpopProofError,
    UnauthorizedError,
)

__all__ = ["PROBLEMS", "status_for"]

PROBLEMS = ProblemMap({
    OAuthError: 400,  # RFC 6749 §5.2: token and credential endpoint errors are 400 unless the token is bad
    UnauthorizedError: 401,
    InvalidTokenError: 401,
    ResourceDpopProofError: 401,  # RFC 9449 §7.1
    RefreshLimitError: 429,
    ForbiddenError: 403,
}, unavailable=(OperationalError,))


def status_for(exc: CredError) -> int:
    return PROBLEMS.status_for(exc)
