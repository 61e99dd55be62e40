"""Strict base64url (RFC 4648 §5, no padding) as JWS, SD-JWT and JWK require.

The standard library decoder accepts padding, whitespace and non-canonical trailing bits; a JWS
verifier must not (RFC 7515 §2, Wycheproof "base64 malleability" cases), or one signature would
validate many different strings. So decoding here is strict and encoding is canonical.
"""

from __future__ import annotations

import base64
import binascii
import re

from credcore.errors import MalformedInputError

__all__ = ["b64u_decode", "b64u_encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
# Which characters may end a string of length % 4 == 2 or 3 without carrying stray low bits.
_LAST_CHAR_MASK = {2: 0x0F, 3: 0x03}
_VALUES = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def b64u_encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str | bytes) -> bytes:
    """Decode canonical, unpadded base64url or raise :class:`MalformedInputError`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedInputError("base64url text is not ASCII") from None
    if _ALPHABET.fullmatch(text) is None:
        raise MalformedInputError("not base64url (bad character or padding)")
    rest = len(text) % 4
    if rest == 1:
        raise MalformedInputError("not base64url (impossible length)")
    if rest and _VALUES[text[-1]] & _LAST_CHAR_MASK[rest]:
        raise MalformedInputError("not canonical base64url (stray trailing bits)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by the checks above
        raise MalformedInputError("not base64url") from None
