"""Presenting a CP1 credential: the holder proof for a time step (and the verifier's nonce), as QR text."""

from __future__ import annotations

from credcore import _cose
from credcore.cp1.codec import MAX_NONCE_CHARS, NONCE, PREFIX, TIME_MAX, TIME_STEP, holder_input, parse_credential, uint
from credcore.errors import InvalidKeyError, MalformedInputError
from credcore.keys import SigningKey
from credcore.qr import encode_qr_text

__all__ = ["present_cp1"]


def present_cp1(credential: bytes, *, holder_key: SigningKey, now: int, nonce: str | None = None) -> str:
    """The ``CP1:`` text for a QR code: ``credential`` with a holder proof for the time step of ``now``.

    Raises:
        MalformedInputError: the credential does not parse, or the nonce is not 1-32 URL-safe characters.
        InvalidKeyError: ``holder_key`` is not the key the credential was issued to.
    """
    parsed = parse_credential(credential)
    if holder_key.curve != "P-256" or holder_key.public_key.to_bytes(compressed=True) != parsed.holder_key:
        raise InvalidKeyError("holder key does not match the credential")
    if nonce is not None and (not isinstance(nonce, str) or NONCE.fullmatch(nonce) is None):
        raise MalformedInputError(f"nonce must be 1 to {MAX_NONCE_CHARS} URL-safe characters")
    if not uint(now, TIME_MAX):
        raise MalformedInputError("now must be unix seconds")
    step = now // TIME_STEP
    signature = holder_key.sign(holder_input(parsed.digest, step, nonce))
    return encode_qr_text(PREFIX, _cose.dumps([credential, step, nonce, signature]))
