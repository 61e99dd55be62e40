"""The verifier's own error classes, under credcore's root so ``api/problems.py`` maps them in one place."""

from __future__ import annotations

from credcore.errors import ConflictError, MalformedInputError, NotFoundError, RefusedError

__all__ = ["NoQrCodeError", "RequestExpiredError", "RequestUsedError", "UnknownPolicyError", "UnknownRequestError",
           "UnsupportedMediaError"]


class UnknownPolicyError(NotFoundError):
    code = "unknown_policy"
    title = "No such policy"


class UnknownRequestError(NotFoundError):
    code = "unknown_request"
    title = "No such presentation request"


class RequestExpiredError(ConflictError):
    code = "request_expired"
    title = "Presentation request has expired"


class RequestUsedError(ConflictError):
    code = "request_used"
    title = "Presentation request was already answered"


class UnsupportedMediaError(RefusedError):
    code = "unsupported_media_type"
    title = "Unsupported media type"


class NoQrCodeError(MalformedInputError):
    code = "no_qr_code"
    title = "No QR code found in the image"
