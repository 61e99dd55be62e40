"""The verifier's own error classes, under credcore's root so ``api/problems.py`` maps them in one place."""

from __future__ import annotations

from credcore.errors import ConflictError, InfrastructureError, MalformedInputError, NotFoundError, RefusedError

__all__ = ["DecoderBusyError", "NoQrCodeError", "RequestExpiredError", "RequestUsedError", "ResponseModeMismatchError",
           "StateMismatchError", "UnknownPolicyError", "UnknownRequestError", "UnsupportedMediaError",
           "WalletMetadataError"]


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


class ResponseModeMismatchError(MalformedInputError):
    code = "response_mode_mismatch"
    title = "Answer does not use the request's response mode"


class StateMismatchError(MalformedInputError):
    code = "state_mismatch"
    title = "Answer's state is not its request's"


class WalletMetadataError(RefusedError):
    code = "wallet_metadata_unsupported"
    title = "The wallet supports none of this verifier's algorithms"


class DecoderBusyError(InfrastructureError):
    """Every image decoder of this worker is busy and its queue is full: retry shortly (503, Retry-After)."""

    code = "image_decoder_busy"
    title = "Image decoders are busy"
    retry_after = 1
