"""Split an SD-JWT (or SD-JWT+KB) into its parts, in compact or JWS JSON serialization (RFC 9901 §4, §8).

Only the envelope is handled here: which text is the issuer-signed JWT, which are disclosures, which is
the key-binding JWT, and over which string ``sd_hash`` is computed. What is inside each part is checked
by the verifier's format step, so that a bad part becomes a failed check rather than an exception.
Text that has no recognisable envelope at all raises :class:`MalformedPresentationError`.
"""

from __future__ import annotations

import json
from typing import Any, Final, NamedTuple

from credcore.errors import MalformedPresentationError, PayloadTooLargeError
from credcore.keys import parse_json_object

__all__ = ["MAX_DISCLOSURES", "MAX_SD_JWT_CHARS", "Envelope", "IssuerSignature", "split", "to_json"]

#: Largest SD-JWT text accepted, and most disclosures in one; larger input is refused before parsing.
MAX_SD_JWT_CHARS: Final = 256 * 1024
MAX_DISCLOSURES: Final = 1024


# NamedTuples rather than frozen dataclasses: one of each is built per presentation on the verifier's hot
# path, and a tuple is several times cheaper to construct.
class IssuerSignature(NamedTuple):
    """One signature over the issuer payload, as a compact JWS, with the ``kid`` hint from an unprotected header."""

    compact: str
    unprotected_kid: Any = None


class Envelope(NamedTuple):
    signatures: tuple[IssuerSignature, ...]  # compact serialization has exactly one
    disclosures: tuple[str, ...]
    kb_jwt: str | None
    sd_hash_input: str  # §4.3.1: "<issuer jwt>~<d1>~...~<dn>~" (first signature for JSON, §8.1)
    serialization: str  # "compact" or "json"

    @property
    def issuer_jwt(self) -> str:
        return self.signatures[0].compact


def split(text: object) -> Envelope:
    """Split ``text``; raises :class:`MalformedPresentationError` (or ``PayloadTooLargeError``)."""
    if not isinstance(text, str):
        raise MalformedPresentationError("SD-JWT is not text")
    if len(text) > MAX_SD_JWT_CHARS:
        raise PayloadTooLargeError("SD-JWT is larger than allowed")
    if text.startswith("{"):
        return _split_json(text)
    last = text.rfind("~")
    if last < 0:
        raise MalformedPresentationError("SD-JWT has no '~' separator")
    parts = text.split("~")
    if len(parts) - 2 > MAX_DISCLOSURES:
        raise PayloadTooLargeError("SD-JWT has too many disclosures")
    # Positional arguments, in field order: cheaper than keywords for a NamedTuple, and this runs per presentation.
    signatures = (IssuerSignature(parts[0], None),)
    return Envelope(signatures, tuple(parts[1:-1]), parts[-1] or None, text[: last + 1], "compact")


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedPresentationError(f"'{what}' is not an array of strings")
    return value


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise MalformedPresentationError(f"JWS JSON member '{name}' missing or not a string")
    return value


def _split_json(text: str) -> Envelope:
    # §8.1: disclosures and kb_jwt travel in the unprotected header of the (first) signature.
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPresentationError("SD-JWT JSON serialization is not UTF-8") from None
    obj = parse_json_object(raw, "JWS JSON serialization")  # MalformedInputError on bad JSON
    payload = _text(obj, "payload")
    raw_sigs = obj.get("signatures") if "signatures" in obj else [obj]
    if not isinstance(raw_sigs, list) or not raw_sigs or ("signatures" in obj and "signature" in obj):
        raise MalformedPresentationError("JWS JSON has neither one 'signature' nor a 'signatures' array")
    signatures: list[IssuerSignature] = []
    disclosures: list[str] = []
    kb: str | None = None
    for i, sig in enumerate(raw_sigs):
        if not isinstance(sig, dict):
            raise MalformedPresentationError("JWS JSON signature entry is not an object")
        header = sig.get("header", {})
        if not isinstance(header, dict):
            raise MalformedPresentationError("JWS JSON unprotected header is not an object")
        if i > 0 and ("disclosures" in header or "kb_jwt" in header):
            raise MalformedPresentationError("disclosures belong to the first signature's header only")
        if i == 0:
            disclosures = _strings(header.get("disclosures", []), "disclosures")
            kb_value = header.get("kb_jwt")
            if kb_value is not None and not isinstance(kb_value, str):
                raise MalformedPresentationError("'kb_jwt' is not a string")
            kb = kb_value or None
        compact = f"{_text(sig, 'protected')}.{payload}.{_text(sig, 'signature')}"
        signatures.append(IssuerSignature(compact, header.get("kid")))
    if len(disclosures) > MAX_DISCLOSURES:
        raise PayloadTooLargeError("SD-JWT has too many disclosures")
    first = signatures[0].compact
    return Envelope(
        signatures=tuple(signatures),
        disclosures=tuple(disclosures),
        kb_jwt=kb,
        sd_hash_input="~".join((first, *disclosures, "")),
        serialization="json",
    )


def to_json(envelope: Envelope, *, flattened: bool = True) -> str:
    """Re-serialize as JWS JSON (§8): the holder's JSON presentations and tests use it."""
    payload = envelope.issuer_jwt.split(".")[1]
    sigs = []
    for i, sig in enumerate(envelope.signatures):
        protected, _, signature = sig.compact.split(".")
        header: dict[str, Any] = {}
        if i == 0:
            header["disclosures"] = list(envelope.disclosures)
            if envelope.kb_jwt:
                header["kb_jwt"] = envelope.kb_jwt
        if sig.unprotected_kid is not None:
            header["kid"] = sig.unprotected_kid
        sigs.append({"protected": protected, "header": header, "signature": signature})
    if flattened and len(sigs) == 1:
        return json.dumps({"payload": payload, **sigs[0]})
    return json.dumps({"payload": payload, "signatures": sigs})
