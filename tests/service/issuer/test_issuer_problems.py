"""issuer/api/problems.py maps every error class in the project to a deliberate 4xx/5xx; codes are unique."""

from __future__ import annotations

import contracts.errors  # noqa: F401  (registers the chain errors as CredError subclasses)
import credcore.status_list  # noqa: F401
import issuer.errors
import issuer.types  # noqa: F401
from credcore.errors import CredError, InfrastructureError, all_error_classes
from issuer.api.problems import status_for


def test_every_error_class_has_a_deliberate_status():
    # What this service can raise: the core's, the chain bindings' and its own (the wallet's never reach it).
    for cls in all_error_classes():
        if cls.__module__.split(".")[0] not in {"credcore", "contracts", "issuer"}:
            continue
        status = status_for(cls.__new__(cls))
        if cls is CredError:
            assert status == 500
        elif issubclass(cls, InfrastructureError):
            assert status == 503, cls
        else:
            assert 400 <= status < 500, cls


def test_codes_are_unique():
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))


def test_oauth_errors_speak_rfc6749():
    from issuer.errors import InvalidGrantError, InvalidProofError, OAuthError

    assert {cls.oauth_error for cls in all_error_classes() if issubclass(cls, OAuthError)} >= {
        "invalid_grant", "invalid_proof", "invalid_nonce", "invalid_token", "unsupported_grant_type",
        "invalid_credential_request", "unknown_credential_configuration", "credential_request_denied"}
    assert status_for(InvalidGrantError()) == status_for(InvalidProofError()) == 400
