"""One exception hierarchy for civicpass, each class with a stable machine-readable ``code``.

Exceptions are for input that cannot be parsed, requests that are refused, state conflicts and
infrastructure failures. A credential that parses but fails a check is *not* an exception: it is a
failed :class:`credcore.verification.CheckOutcome` whose code is one of the ``FAIL_*`` constants below.

HTTP status codes live only in each service's ``api/problems.py``. Error messages never carry keys,
salts or claim values: ``detail`` is written for an operator, ``context`` holds only safe identifiers.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyRevokedError",
    "AnchorNotFinalError",
    "ChainUnavailableError",
    "ConflictError",
    "CredError",
    "InfrastructureError",
    "InvalidKeyError",
    "JweAlgorithmError",
    "JweDecryptionError",
    "MalformedDisclosureError",
    "MalformedInputError",
    "MalformedJweError",
    "MalformedPresentationError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RefusedError",
    "ReservedClaimError",
    "SignatureError",
    "UnsupportedAlgorithmError",
    "all_error_classes",
]


class CredError(Exception):
    """Root of every error raised by civicpass code."""

    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **context: object) -> None:
        self.detail = detail or self.title
        self.context = context
        super().__init__(f"{self.code}: {self.detail}")


# --- input that cannot be parsed ------------------------------------------------------------------
class MalformedInputError(CredError):
    code = "malformed_input"
    title = "Input cannot be parsed"


class MalformedPresentationError(MalformedInputError):
    code = "malformed_presentation"
    title = "Presentation cannot be parsed"


class MalformedDisclosureError(MalformedInputError):
    code = "malformed_disclosure"
    title = "Disclosure cannot be parsed"


class PayloadTooLargeError(MalformedInputError):
    code = "payload_too_large"
    title = "Input is larger than allowed"


class InvalidKeyError(MalformedInputError):
    code = "invalid_key"
    title = "Key cannot be used"


class MalformedJweError(MalformedInputError):
    code = "malformed_jwe"
    title = "Encrypted response cannot be parsed"


# --- refused: well-formed but not allowed ----------------------------------------------------------
class RefusedError(CredError):
    code = "refused"
    title = "Request refused"


class UnsupportedAlgorithmError(RefusedError):
    code = "unsupported_algorithm"
    title = "Algorithm not allowed"


class ReservedClaimError(RefusedError):
    code = "reserved_claim"
    title = "Claim name is reserved"


class SignatureError(RefusedError):
    """A signature did not verify. Deliberately opaque: it never says which key or byte failed."""

    code = "signature_invalid"
    title = "Signature does not verify"


class JweAlgorithmError(UnsupportedAlgorithmError):
    code = "jwe_algorithm_refused"
    title = "Encryption algorithm not allowed"


class JweDecryptionError(RefusedError):
    """A JWE did not decrypt. Deliberately opaque, like :class:`SignatureError`."""

    code = "jwe_decryption_failed"
    title = "Encrypted response does not decrypt"


# --- state conflicts ---------------------------------------------------------------------------
class ConflictError(CredError):
    code = "conflict"
    title = "State conflict"


class NotFoundError(ConflictError):
    code = "not_found"
    title = "Not found"


class AlreadyRevokedError(ConflictError):
    code = "already_revoked"
    title = "Already revoked"


class RateLimitedError(RefusedError):
    """Too many requests of one kind from one client; ``retry_after`` says in how many seconds to try again."""

    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **context: object) -> None:
        super().__init__(detail, **context)
        self.retry_after = retry_after


# --- infrastructure (retryable) ---------------------------------------------------------------
class InfrastructureError(CredError):
    code = "infrastructure_unavailable"
    title = "A dependency is unavailable"


class ChainUnavailableError(InfrastructureError):
    code = "chain_unavailable"
    title = "Chain unavailable"


class AnchorNotFinalError(InfrastructureError):
    code = "anchor_not_final"
    title = "Anchor not yet final"


def all_error_classes() -> list[type[CredError]]:
    """Every subclass of :class:`CredError` defined so far (services add their own), root first."""
    found: list[type[CredError]] = [CredError]
    stack: list[type[CredError]] = [CredError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found
