"""SD-JWT disclosures (RFC 9901 §4.2) and the digest bookkeeping around them.

A disclosure is ``base64url(JSON([salt, name, value]))`` for an object property or
``base64url(JSON([salt, value]))`` for an array element; the issuer signs only its SHA-256 digest,
placed in an object's ``_sd`` array or as an ``{"...": digest}`` array element. This module makes and
parses disclosures and rebuilds the disclosed claims from a payload (§7.1 steps 3-5), applying every
rejection rule there: duplicate digests, a disclosure of the wrong kind for where it is referenced, a
disclosed name that already exists, a disclosure nobody references. Written by hand because no library
exposes these rules separately from its own JWT handling, and the verifier needs each as a stable code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from credcore._sdjwt_jose import b64u, b64u_encode, json_bytes, json_value
from credcore.errors import MalformedDisclosureError, MalformedInputError
from credcore.verification import Code

__all__ = [
    "ARRAY_KEY",
    "MAX_DEPTH",
    "SD_ALG",
    "SD_ALG_KEY",
    "SD_KEY",
    "Disclosure",
    "DisclosureCheckError",
    "digest_of",
    "make_disclosure",
    "parse_disclosure",
    "unpack",
]

SD_KEY: Final = "_sd"
ARRAY_KEY: Final = "..."
SD_ALG_KEY: Final = "_sd_alg"
#: The only digest algorithm civicpass produces or accepts (RFC 9901 §4.1.1, IANA "sha-256").
SD_ALG: Final = "sha-256"
#: Deepest nesting of objects/arrays/disclosures we unpack; deeper is refused rather than risking recursion limits.
MAX_DEPTH: Final = 64
_RESERVED_NAMES: Final = frozenset({SD_KEY, ARRAY_KEY})
_sha256: Final = hashlib.sha256
_CONTAINERS: Final = frozenset({dict, list})  # the types ``_Unpacker.value`` descends into (exact types)


def digest_of(encoded: str) -> str:
    """base64url(SHA-256(ASCII of the disclosure as it travels)) (§4.2.3). ``encoded`` must be ASCII."""
    return b64u_encode(hashlib.sha256(encoded.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure: ``name`` is ``None`` for an array element."""

    encoded: str
    digest: str
    salt: str = field(repr=False)
    name: str | None
    value: Any = field(repr=False)


def make_disclosure(salt: str, name: str | None, value: Any) -> Disclosure:
    """Encode a disclosure. Compact JSON: any byte sequence is allowed (§4.2.1), the digest is over what travels."""
    if name in _RESERVED_NAMES:
        raise MalformedDisclosureError("claim name is reserved by SD-JWT")
    array = [salt, value] if name is None else [salt, name, value]
    encoded = b64u_encode(json_bytes(array))
    return Disclosure(encoded, digest_of(encoded), salt, name, value)


def parse_disclosure(encoded: str) -> Disclosure:
    """Decode and check the shape of one disclosure; raises :class:`MalformedDisclosureError`."""
    try:
        array = json_value(b64u(encoded), "disclosure")
    except MalformedInputError:
        raise MalformedDisclosureError("disclosure is not base64url JSON") from None
    if type(array) is not list or len(array) not in (2, 3) or not isinstance(array[0], str):
        raise MalformedDisclosureError("disclosure is not [salt, name, value] or [salt, value]")
    # digest_of inlined (hot path); b64u succeeded, so ``encoded`` is ASCII.
    digest = b64u_encode(_sha256(encoded.encode("ascii")).digest())
    if len(array) == 2:
        return Disclosure(encoded, digest, array[0], None, array[1])
    name = array[1]
    if not isinstance(name, str):
        raise MalformedDisclosureError("disclosure claim name is not a string")
    if name in _RESERVED_NAMES:  # §4.2.1: "_sd" and "..." must not be disclosed claim names
        raise MalformedDisclosureError("disclosure uses a reserved claim name")
    return Disclosure(encoded, digest, array[0], name, array[2])


class DisclosureCheckError(Exception):
    """A rule of RFC 9901 §7.1 was broken; ``code`` is the verification code to report."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Unpacker:
    # A plain slotted class rather than a dataclass, and the digest lookup written out in ``object``: this walks
    # the payload of every presentation.
    __slots__ = ("by_digest", "seen", "used")

    def __init__(self, by_digest: Mapping[str, Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.used: list[Disclosure] = []

    def value(self, value: Any, depth: int) -> Any:
        if type(value) is dict:
            return self.object(value, depth + 1)
        if type(value) is list:
            return self.array(value, depth + 1)
        return value

    def _lookup(self, digest: object) -> Disclosure | None:
        if not isinstance(digest, str):
            raise DisclosureCheckError(Code.MALFORMED, "a digest is not a string")
        if digest in self.seen:  # §7.1 step 4: each digest at most once, decoys included
            raise DisclosureCheckError(Code.DUPLICATE_DIGEST, "a digest appears more than once")
        self.seen.add(digest)
        found = self.by_digest.get(digest)
        if found is not None:
            self.used.append(found)
        return found

    def object(self, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise DisclosureCheckError(Code.MALFORMED, "claims are nested too deeply")
        if SD_KEY not in obj and _CONTAINERS.isdisjoint(map(type, obj.values())):
            return obj.copy()  # no digests and nothing nested (a JWK, a status reference): what the loop would build
        # Copied in C, then nested objects and arrays replaced in place, in order; scalars need no Python step.
        out = obj.copy()
        digests = out.pop(SD_KEY, None)
        for k, v in out.items():
            kind = type(v)
            if kind is dict:
                out[k] = self.object(v, depth + 1)
            elif kind is list:
                out[k] = self.array(v, depth + 1)
        if digests is None:
            return out
        if not isinstance(digests, list):
            raise DisclosureCheckError(Code.MALFORMED, "'_sd' is not an array")
        seen, by_digest = self.seen, self.by_digest
        for digest in digests:
            # _lookup, inlined
            if not isinstance(digest, str):
                raise DisclosureCheckError(Code.MALFORMED, "a digest is not a string")
            if digest in seen:  # §7.1 step 4: each digest at most once, decoys included
                raise DisclosureCheckError(Code.DUPLICATE_DIGEST, "a digest appears more than once")
            seen.add(digest)
            found = by_digest.get(digest)
            if found is None:
                continue  # a decoy, or a claim the holder did not disclose
            self.used.append(found)
            name = found.name
            if name is None:
                raise DisclosureCheckError(Code.DISCLOSURE_MISMATCH, "array-element disclosure referenced in '_sd'")
            if name in out:  # §7.1 step 3.2.2.3: a disclosed name must not already exist
                raise DisclosureCheckError(Code.DISCLOSURE_MISMATCH, "disclosed claim name already exists")
            out[name] = self.value(found.value, depth)
        return out

    def array(self, arr: list[Any], depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise DisclosureCheckError(Code.MALFORMED, "claims are nested too deeply")
        out: list[Any] = []
        for element in arr:
            if not (isinstance(element, dict) and len(element) == 1 and ARRAY_KEY in element):
                out.append(self.value(element, depth))
                continue
            found = self._lookup(element[ARRAY_KEY])
            if found is None:
                continue  # undisclosed or decoy elements are removed (§7.1 step 3.3.2.2)
            if found.name is not None:
                raise DisclosureCheckError(Code.DISCLOSURE_MISMATCH, "property disclosure referenced as an element")
            out.append(self.value(found.value, depth))
        return out


def unpack(
    payload: Mapping[str, Any], disclosures: Mapping[str, Disclosure]
) -> tuple[dict[str, Any], list[Disclosure]]:
    """Replace digests in ``payload`` by the disclosed claims; ``disclosures`` maps digest -> disclosure.

    Returns the processed claims (``_sd`` removed at every level; ``_sd_alg`` is left to the caller) and
    the disclosures that were referenced, in the order met. Raises :class:`DisclosureCheckError`.
    Checking that every disclosure was referenced is the caller's step: compare the two collections.
    """
    unpacker = _Unpacker(disclosures)
    # ``object`` only reads its argument and builds a new dict, so a dict payload needs no defensive copy.
    claims = unpacker.object(payload if type(payload) is dict else dict(payload), 0)
    return claims, unpacker.used
