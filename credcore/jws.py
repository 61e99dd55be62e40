"""Compact JWS (RFC 7515) signing and strict verification for civicpass's own tokens.

Why not PyJWT here: its decoder pads and decodes base64url leniently (non-canonical trailing bits and
padding pass, so one signature validates several strings: Wycheproof's malleability cases) and accepts
duplicate JSON members; both must be refused by a credential verifier. It is also the hot path of every
SD-JWT presentation, so it stays a thin layer over ``cryptography``. PyJWT remains a test-time peer.

Rules enforced: three parts; strict base64url; header and payload are JSON objects without duplicate
members; ``alg`` from an explicit allow-list (never ``none``/HMAC); ``crit`` is refused (we understand no
extensions); optional ``typ`` must match exactly; the header cannot swap in its own key (``jwk``/``x5c``
are ignored for trust: the caller supplies the key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError, PayloadTooLargeError, SignatureError
from credcore.keys import PublicKey, SigningKey, parse_json_object, require_alg

__all__ = ["MAX_JWS_BYTES", "ParsedJws", "parse", "sign", "verify"]

#: Upper bound on one compact JWS; larger input is refused before any parsing work.
MAX_JWS_BYTES = 64 * 1024
DEFAULT_ALGS = frozenset({"ES256"})


def _json_b64(obj: Mapping[str, Any]) -> str:
    return b64u_encode(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def sign(payload: Mapping[str, Any], key: SigningKey, *, header: Mapping[str, Any] | None = None) -> str:
    """Sign ``payload`` as a compact JWS; ``alg`` is taken from the key."""
    hdr = {"alg": key.alg, **(header or {})}
    signing_input = f"{_json_b64(hdr)}.{_json_b64(payload)}"
    return f"{signing_input}.{b64u_encode(key.sign(signing_input.encode('ascii')))}"


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A compact JWS split and decoded, signature not yet checked."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header.get("alg"))

    def verify_with(self, key: PublicKey) -> bool:
        """True if the signature verifies under ``key`` with the header's algorithm."""
        return key.verify(self.signature, self.signing_input, self.alg)


def parse(token: str, *, algorithms: frozenset[str] = DEFAULT_ALGS, typ: str | None = None) -> ParsedJws:
    """Split and decode ``token``. Raises :class:`MalformedInputError` or ``UnsupportedAlgorithmError``."""
    if not isinstance(token, str):
        raise MalformedInputError("JWS is not text")
    if len(token) > MAX_JWS_BYTES:
        raise PayloadTooLargeError("JWS is larger than allowed")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedInputError("JWS must have three parts")
    header = parse_json_object(b64u_decode(parts[0]), "JWS header")
    require_alg(header.get("alg"), algorithms)
    if "crit" in header:
        raise MalformedInputError("JWS 'crit' extensions are not understood")
    if typ is not None and header.get("typ") != typ:
        raise MalformedInputError("JWS 'typ' is not the one expected")
    payload = parse_json_object(b64u_decode(parts[1]), "JWS payload")
    signature = b64u_decode(parts[2])
    return ParsedJws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify(
    token: str, key: PublicKey, *, algorithms: frozenset[str] = DEFAULT_ALGS, typ: str | None = None
) -> ParsedJws:
    """Parse and verify ``token`` under ``key``; raises :class:`SignatureError` if it does not verify."""
    parsed = parse(token, algorithms=algorithms, typ=typ)
    if not parsed.verify_with(key):
        raise SignatureError()
    return parsed
