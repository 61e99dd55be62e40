"""QR payload text: a short prefix plus Base45 (RFC 9285), for QR alphanumeric mode. No image rendering.

Base45's 45 characters are exactly QR's alphanumeric set, so a binary payload costs 1.5 characters per
byte at 5.5 bits per character instead of 8 bits per byte in QR byte mode (RFC 9285 §1). Drawing the code
is the wallet's job (segno); reading it is the verifier's (zxing-cpp). credcore only turns bytes into
text and back, and bounds the size before any decoding work (secure defaults: the size cap lives here).

Encoding uses the ``base45`` package. Decoding is written here because the package's decoder is both
lenient (it strips a trailing newline, so two texts decode to the same bytes) and slow enough, group by
group in Python, to take a large share of the CP1 verification budget; this one is strict and does the
arithmetic for all groups at once on big integers. Tests check it against the package.
"""

from __future__ import annotations

from typing import Final

import base45

from credcore.errors import MalformedInputError, PayloadTooLargeError

__all__ = ["BASE45_ALPHABET", "MAX_QR_TEXT_CHARS", "b45decode", "b45encode", "decode_qr_text", "encode_qr_text"]

BASE45_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: Default bound on QR text: above a version-13-M code (483 alphanumeric characters), far below v40.
MAX_QR_TEXT_CHARS: Final = 1_000

# Byte -> Base45 value; every other byte maps to 0xFF, which no valid value reaches.
_TABLE: Final = bytes(BASE45_ALPHABET.index(chr(b)) if chr(b) in BASE45_ALPHABET else 0xFF for b in range(256))


def b45encode(data: bytes) -> str:
    """Base45 text for ``data`` (RFC 9285 §4)."""
    encoded: bytes = base45.b45encode(data)
    return encoded.decode("ascii")


# 0x0000FF in each of 333 3-byte lanes, enough for MAX_QR_TEXT_CHARS; shifted down for shorter text.
_LOW_BYTES: Final = int.from_bytes(b"\0\0\xff" * (MAX_QR_TEXT_CHARS // 3), "big")


def _low_bytes(groups: int) -> int:
    """``groups`` 3-byte lanes of 0x0000FF, as one integer."""
    if groups <= MAX_QR_TEXT_CHARS // 3:
        return _LOW_BYTES >> (24 * (MAX_QR_TEXT_CHARS // 3 - groups))
    return int.from_bytes(b"\0\0\xff" * groups, "big")


def b45decode(text: str) -> bytes:
    """Decode strict Base45: alphabet characters only, no impossible length, no out-of-range group."""
    try:
        values = text.encode("ascii").translate(_TABLE)
    except UnicodeEncodeError:
        raise MalformedInputError("Base45 text is not ASCII") from None
    n = len(values)
    if 0xFF in values or n % 3 == 1:
        raise MalformedInputError("not Base45 (bad character or impossible length)")
    groups = n // 3
    full = 3 * groups
    # RFC 9285 §4.2: group i is c + 45 d + 45^2 e, two bytes big-endian. Computed for all groups at once on one
    # big integer holding the values in 3-byte lanes (c, d, e): masks pick each digit column out of every lane,
    # and the lanes cannot carry into each other (max 91124 < 2^24), so the top byte of every lane is zero
    # exactly when the group fits in two bytes.
    lanes = int.from_bytes(values[:full] if n != full else values, "big")
    low = _low_bytes(groups)
    value = ((lanes >> 16) & low) + 45 * ((lanes >> 8) & low) + 2025 * (lanes & low)
    if value & (low << 16):
        raise MalformedInputError("not Base45 (group out of range)")
    total = bytearray(value.to_bytes(full, "big"))
    del total[0::3]
    out = bytes(total)
    if n != full:
        last = values[-2] + 45 * values[-1]
        if last > 0xFF:
            raise MalformedInputError("not Base45 (final group out of range)")
        out += bytes((last,))
    return out


def encode_qr_text(prefix: str, payload: bytes) -> str:
    """``prefix`` followed by the Base45 text of ``payload``."""
    return prefix + b45encode(payload)


def decode_qr_text(text: str, prefix: str, *, max_chars: int = MAX_QR_TEXT_CHARS) -> bytes:
    """The payload bytes of ``text``, which must start with ``prefix``.

    Raises :class:`PayloadTooLargeError` for text over ``max_chars`` (checked first, before any work) and
    :class:`MalformedInputError` for a missing prefix or bad Base45.
    """
    if not isinstance(text, str):
        raise MalformedInputError("QR payload is not text")
    if len(text) > max_chars:
        raise PayloadTooLargeError("QR payload is larger than allowed", max_chars=max_chars)
    if not text.startswith(prefix):
        raise MalformedInputError("QR payload does not have the expected prefix")
    return b45decode(text[len(prefix) :])
