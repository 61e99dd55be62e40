"""The issuer's own error classes (codes are API). OAuth-style endpoints carry an ``oauth_error`` too.

OpenID4VCI's token and credential endpoints must answer with RFC 6749 §5.2 / OpenID4VCI §8.3.1.2
``{"error": ..., "error_description": ...}``; ``api/problems.py`` renders those fields for these classes.
"""

from __future__ import annotations

from typing import ClassVar

from credcore.errors import ConflictError, RefusedError

__all__ = [
    "CredentialRequestDeniedError",
    "DpopBoundTokenError",
    "ForbiddenError",
    "GrantCredentialRevokedError",
    "GrantCredentialSuspendedError",
    "InvalidCredentialRequestError",
    "InvalidDpopProofError",
    "InvalidGrantError",
    "InvalidNonceError",
    "InvalidProofError",
    "InvalidTokenError",
    "OAuthError",
    "OAuthRequestError",
    "RefreshLimitError",
    "ResourceDpopProofError",
    "TypeConflictError",
    "UnauthorizedError",
    "UnknownConfigurationError",
    "UnsupportedGrantTypeError",
]


class UnauthorizedError(RefusedError):
    code = "unauthorized"
    title = "Missing or unknown bearer token"


class ForbiddenError(RefusedError):
    code = "forbidden"
    title = "The token's role may not do this"


class OAuthError(RefusedError):
    """Base of errors that OAuth / OpenID4VCI endpoints report with an ``error`` code."""

    code = "oauth_error"
    title = "OAuth request refused"
    oauth_error: ClassVar[str] = "invalid_request"


class OAuthRequestError(OAuthError):
    code = "invalid_request"
    title = "Token request is malformed"


class UnsupportedGrantTypeError(OAuthError):
    code = "unsupported_grant_type"
    title = "Grant type not supported"
    oauth_error = "unsupported_grant_type"


class InvalidGrantError(OAuthError):
    """Unknown, expired, already used or locked pre-authorized code, or a wrong transaction code."""

    code = "invalid_grant"
    title = "Pre-authorized code or transaction code not accepted"
    oauth_error = "invalid_grant"


class GrantCredentialRevokedError(InvalidGrantError):
    """A refresh for a revoked credential: the refresh token is dead (a wallet drops it)."""

    code = "refresh_credential_revoked"
    title = "The credential was revoked; no new copies"


class GrantCredentialSuspendedError(InvalidGrantError):
    """A refresh for a suspended credential: refused until it is reinstated (a wallet keeps the token)."""

    code = "refresh_credential_suspended"
    title = "The credential is suspended; no new copies until it is reinstated"


class RefreshLimitError(OAuthError):
    """More refreshes than the issuer's policy allows per day (HTTP 429; the token stays good)."""

    code = "refresh_limit_reached"
    title = "Refresh limit reached for today"
    oauth_error = "invalid_request"


class InvalidDpopProofError(OAuthError):
    """RFC 9449 §5, §7.1: a DPoP proof missing, malformed, replayed, or not of the token's key."""

    code = "invalid_dpop_proof"
    title = "DPoP proof not accepted"
    oauth_error = "invalid_dpop_proof"


class _GivesDpopNonce:
    """A refusal whose answer carries a new DPoP nonce (``DPoP-Nonce``) for the wallet's next proof."""

    def __init__(self, detail: str | None = None, *, nonce: str) -> None:
        super().__init__(detail)  # type: ignore[call-arg]  # the CredError it is mixed into takes the detail
        self.nonce = nonce
        self.response_headers = {"DPoP-Nonce": nonce}


class UseDpopNonceError(_GivesDpopNonce, InvalidDpopProofError):
    """RFC 9449 §8: the proof lacks a nonce this issuer gave, or its nonce is too old. The answer carries a new
    one in ``DPoP-Nonce``; the wallet signs its proof again with it."""

    code = "dpop_nonce_required"
    title = "DPoP proof must carry the issuer's nonce"
    oauth_error = "use_dpop_nonce"


class InvalidTokenError(OAuthError):
    code = "invalid_token"
    title = "Access token missing, unknown or expired"
    oauth_error = "invalid_token"


class ResourceDpopProofError(InvalidDpopProofError):
    """RFC 9449 §7.1: at a protected resource (``/credential``, ``/notification``) a DPoP-bound token's proof
    missing, malformed, replayed or not by the token's key is a 401 with a ``DPoP`` challenge; at the token
    endpoint the same fault stays a 400 (§5). The OAuth ``error`` is the same; the civicpass code says where."""

    code = "resource_dpop_proof_invalid"
    title = "DPoP proof not accepted at this resource"
    auth_scheme: ClassVar[str] = "DPoP"


class ResourceUseDpopNonceError(_GivesDpopNonce, ResourceDpopProofError):
    """RFC 9449 §9: the same as :class:`UseDpopNonceError` at a protected resource: 401 with
    ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and the new nonce in ``DPoP-Nonce``."""

    code = "resource_dpop_nonce_required"
    title = "DPoP proof must carry the issuer's nonce"
    oauth_error = "use_dpop_nonce"


class DpopBoundTokenError(InvalidTokenError):
    """RFC 9449 §7.2: a DPoP-bound access token presented as a bearer token (401, ``DPoP`` challenge)."""

    code = "dpop_token_sent_as_bearer"
    title = "DPoP-bound access token sent as a bearer token"
    auth_scheme: ClassVar[str] = "DPoP"


class InvalidCredentialRequestError(OAuthError):
    code = "invalid_credential_request"
    title = "Credential request is malformed"
    oauth_error = "invalid_credential_request"


class UnknownConfigurationError(OAuthError):
    code = "unknown_credential_configuration"
    title = "Credential configuration not offered"
    oauth_error = "unknown_credential_configuration"


class InvalidProofError(OAuthError):
    code = "invalid_proof"
    title = "Proof of possession not accepted"
    oauth_error = "invalid_proof"


class InvalidNonceError(OAuthError):
    code = "invalid_nonce"
    title = "Proof nonce unknown, used or expired"
    oauth_error = "invalid_nonce"


class CredentialRequestDeniedError(OAuthError):
    code = "credential_request_denied"
    title = "Credential already issued for this offer"
    oauth_error = "credential_request_denied"


class InvalidNotificationRequestError(OAuthError):
    code = "invalid_notification_request"
    title = "Notification request malformed"
    oauth_error = "invalid_notification_request"


class InvalidNotificationIdError(OAuthError):
    code = "invalid_notification_id"
    title = "Unknown notification id for this access token"
    oauth_error = "invalid_notification_id"


class TypeConflictError(ConflictError):
    code = "type_exists"
    title = "A credential type with this vct already exists"
