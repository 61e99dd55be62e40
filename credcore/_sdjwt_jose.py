"""Fast strict decoding for the SD-JWT hot path: base64url, JSON and compact JWS, with jws.py's exact rules.

Every online presentation parses two JWS and a handful of disclosures before two ECDSA verifications,
and with :func:`credcore.jws.parse` the parsing cost more than the signatures (a new ``JSONDecoder`` per
call, encoding detection, a regex per segment). This module keeps the same rules as
:mod:`credcore._b64` and :func:`credcore.jws.parse` (no padding or stray bits, no duplicate members or
NaN, ``alg`` allow-list, no ``crit``, size cap) and raises the same exceptions; it additionally requires
UTF-8 JSON, as RFC 7515 §2 does. tests/unit/credcore/test_sdjwt_jose.py checks it against jws.py
differentially, so the two cannot drift apart silently.
"""

from __future__ import annotations

import binascii
import json
from functools import lru_cache
from typing import Any, Final

from credcore.errors import MalformedInputError, PayloadTooLargeError
from credcore.jws import MAX_JWS_BYTES, ParsedJws
from credcore.keys import SigningKey, require_alg

__all__ = ["b64u", "b64u_encode", "json_bytes", "json_object", "json_value", "parse_jws", "sign_jws"]

# base64url -> standard alphabet in one pass; "+", "/" and "=" become "*", which strict_mode refuses, because
# they are not base64url and padding is not allowed (RFC 7515 §2).
_TO_STANDARD: Final = bytes.maketrans(b"-_+/=", b"+/***")
_PADDING: Final = (b"", b"", b"==", b"=")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
# One encoder for every call: json.dumps with arguments builds a new JSONEncoder each time.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_VALUES: Final = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# Which bits of the last character must be zero for a string of length % 4 == 2 or 3 (canonical encoding).
_LAST_CHAR_MASK: Final = (0, 0, 0x0F, 0x03)


def b64u(segment: str) -> bytes:
    """Decode canonical unpadded base64url; raises :class:`MalformedInputError`."""
    rest = len(segment) % 4
    if rest == 1:
        raise MalformedInputError("not base64url (impossible length)")
    if rest and _VALUES.get(segment[-1], 0) & _LAST_CHAR_MASK[rest]:
        raise MalformedInputError("not canonical base64url (stray trailing bits)")
    try:
        return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[rest], strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedInputError("not base64url (bad character)") from None


def b64u_encode(data: bytes) -> str:
    """Unpadded base64url, as :func:`credcore._b64.b64u_encode` produces."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, the form :func:`credcore.jws.sign` uses; ``TypeError``/``ValueError`` if not JSON."""
    return _ENCODER.encode(value).encode("utf-8")


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # RFC 7515 §5.2 / RFC 8259 §4: duplicate member names are refused
        raise MalformedInputError("JSON object has a duplicate member")
    return out


def _no_constants(_: str) -> Any:
    raise MalformedInputError("JSON is not strict (NaN or Infinity)")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_dupes, parse_constant=_no_constants)
_SCAN: Final = _DECODER.scan_once  # type: ignore[attr-defined]  # set in JSONDecoder.__init__


def json_value(raw: bytes, what: str) -> Any:
    """Parse strict UTF-8 JSON of any type; raises :class:`MalformedInputError`."""
    try:
        text = raw.decode("utf-8")
        try:  # fast path for JSON without surrounding whitespace: the C scanner alone
            value, end = _SCAN(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        return _DECODER.decode(text)  # the general path reports the same errors, allowing outer whitespace
    except MalformedInputError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedInputError(f"{what} is not JSON") from None


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    value = json_value(raw, what)
    if not isinstance(value, dict):
        raise MalformedInputError(f"{what} is not a JSON object")
    return value


@lru_cache(maxsize=256)
def _header(segment: str, algorithms: frozenset[str]) -> dict[str, Any]:
    # Protected headers repeat across tokens (every KB-JWT of a wallet, every credential of an issuer key), so
    # their decoded form is cached by exact text; failures are not cached and raise each time.
    header = json_object(b64u(segment), "JWS header")
    require_alg(header.get("alg"), algorithms)
    if "crit" in header:
        raise MalformedInputError("JWS 'crit' extensions are not understood")
    return header


def parse_jws(token: str, algorithms: frozenset[str]) -> ParsedJws:
    """:func:`credcore.jws.parse` without ``typ`` (callers check it to report their own code)."""
    if len(token) > MAX_JWS_BYTES:
        raise PayloadTooLargeError("JWS is larger than allowed")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedInputError("JWS must have three parts")
    header = _header(parts[0], algorithms).copy()  # a copy: the cached dict is shared
    payload = json_value(b64u(parts[1]), "JWS payload")  # json_object, inlined
    if type(payload) is not dict:
        raise MalformedInputError("JWS payload is not a JSON object")
    signature = b64u(parts[2])
    return ParsedJws(header, payload, token[: len(parts[0]) + len(parts[1]) + 1].encode("ascii"), signature)


def sign_jws(payload: Any, key: SigningKey, header: dict[str, Any]) -> str:
    """:func:`credcore.jws.sign` (same header order and JSON form) without its per-call encoder setup."""
    signing_input = f"{b64u_encode(json_bytes({'alg': key.alg, **header}))}.{b64u_encode(json_bytes(payload))}"
    return f"{signing_input}.{b64u_encode(key.sign(signing_input.encode('ascii')))}"
