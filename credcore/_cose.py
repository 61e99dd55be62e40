"""COSE_Sign1 (RFC 9052 §4.2) with ES256 only, and a strict decoder for the small CBOR subset CP1 uses.

Why by hand rather than ``pycose`` or ``cwt``: CP1 needs one structure with one algorithm, under two
budgets those libraries work against. Throughput: the two P-256 checks and a point decompression already
take most of a presentation's verification budget (tests/bench, BENCHMARKS.md), and pycose builds message,
key and attribute objects per message and pulls in a certvalidator stack. Strictness: a credential verifier
must refuse what cbor2 (and so pycose and cwt) quietly accept: indefinite lengths, non-minimal integer heads,
duplicate map keys (last one wins), floats and semantic tags (bignums, sets, shared references that even
build cycles). Getting that out of cbor2 means decoding and re-encoding every layer (four per presentation)
to compare bytes, which costs several times what this decoder spends reading all four.

So: encoding (issuer and holder side, not hot) uses ``cbor2`` with ``canonical=True``; decoding uses
:func:`loads`, which accepts exactly the deterministic encoding (RFC 8949 §4.2) of unsigned and negative
integers up to 64 bits, byte and UTF-8 text strings, arrays, maps with single-byte integer keys in
ascending order, false/true/null, and only the tags the caller names. Nesting depth is capped, and every
declared length is checked against the bytes that remain before anything is built. The two structures the
verifier signs over are written out directly (:func:`sig_structure`, :func:`holder_proof_input`), and so
is the COSE_Sign1 :func:`sign1` returns, ten per issuance (through cbor2 it was a visible share of an
issuance; its header is now encoded once per key); tests check all three, and the decoder, against ``cbor2``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final, NamedTuple

import cbor2

from credcore.errors import MalformedInputError
from credcore.keys import SigningKey

__all__ = [
    "ALG_ES256",
    "COSE_SIGN1_TAG",
    "HDR_ALG",
    "HDR_KID",
    "Sign1",
    "dumps",
    "loads",
    "parse_sign1",
    "sig_structure",
    "sign1",
]

COSE_SIGN1_TAG: Final = 18  # RFC 9052 §2
HDR_ALG: Final = 1  # RFC 9052 §3.1
HDR_KID: Final = 4
ALG_ES256: Final = -7  # RFC 9053 §2.1
MAX_DEPTH: Final = 4  # deepest CP1 item: tag -> array -> map, or map -> map -> list
_NO_TAGS: Final[frozenset[int]] = frozenset()
_SIGN1_TAGS: Final = frozenset({COSE_SIGN1_TAG})
# Smallest argument that needs a 1-, 2-, 4- or 8-byte head; anything below must use the shorter head.
_MIN_ARG: Final = {1: 24, 2: 0x100, 4: 0x1_0000, 8: 0x1_0000_0000}
_SIMPLE: Final[dict[int, bool | None]] = {0xF4: False, 0xF5: True, 0xF6: None}


class _Bad(Exception):
    """Internal: raised deep in the decoder, turned into MalformedInputError at the boundary."""


def dumps(value: Any) -> bytes:
    """Deterministic encoding (shortest heads, definite lengths, sorted map keys)."""
    encoded: bytes = cbor2.dumps(value, canonical=True)
    return encoded


def loads(data: bytes, what: str, *, tags: frozenset[int] = _NO_TAGS) -> Any:
    """Decode exactly one item in the strict subset described above; raise :class:`MalformedInputError`."""
    try:
        value, end = _item(data, 0, MAX_DEPTH, tags)
    except (_Bad, IndexError, UnicodeDecodeError) as err:  # IndexError: input ends inside a head
        raise MalformedInputError(f"{what} is not strict CBOR: {err or 'truncated'}") from None
    if end != len(data):
        raise MalformedInputError(f"{what} is not strict CBOR: trailing bytes")
    return value


def _item(data: bytes, pos: int, depth: int, tags: frozenset[int]) -> tuple[Any, int]:
    initial = data[pos]
    pos += 1
    if initial < 0x18:  # fast path: the small unsigned integers most CP1 fields are
        return initial, pos
    major, arg = initial >> 5, initial & 0x1F
    if arg >= 24:
        if arg > 27:
            raise _Bad("indefinite length or reserved head")
        size = 1 << (arg - 24)
        end = pos + size
        if end > len(data):
            raise _Bad("truncated head")
        arg = int.from_bytes(data[pos:end], "big")
        if arg < _MIN_ARG[size]:
            raise _Bad("non-minimal head")
        pos = end
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        end = pos + arg
        if end > len(data):
            raise _Bad("string runs past the end")
        raw = data[pos:end]
        return (raw if major == 2 else raw.decode("utf-8")), end
    if major == 7:
        if initial not in _SIMPLE:
            raise _Bad("floats and simple values other than false/true/null are not allowed")
        return _SIMPLE[initial], pos
    if depth == 0:
        raise _Bad("nested too deeply")
    if major == 4:
        if arg > len(data) - pos:
            raise _Bad("array longer than the input")
        out = []
        for _ in range(arg):
            value, pos = _item(data, pos, depth - 1, tags)
            out.append(value)
        return out, pos
    if major == 5:
        if 2 * arg > len(data) - pos:
            raise _Bad("map longer than the input")
        result: dict[int, Any] = {}
        previous = -1
        for _ in range(arg):
            # Keys: integers -24..23, one byte each, in ascending byte order (RFC 8949 §4.2.1, and the
            # length-first order of RFC 7049 §3.9 too, as all keys have one length). No duplicates.
            key_byte = data[pos]
            if key_byte <= previous or not (key_byte < 0x18 or 0x20 <= key_byte < 0x38):
                raise _Bad("map keys must be single-byte integers in ascending order")
            previous = key_byte
            key = key_byte if key_byte < 0x18 else 0x1F - key_byte
            result[key], pos = _item(data, pos + 1, depth - 1, tags)
        return result, pos
    if arg not in tags:
        raise _Bad("unexpected tag")
    value, pos = _item(data, pos, depth - 1, tags)
    return cbor2.CBORTag(arg, value), pos


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x1_0000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x1_0000_0000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")


_SIG1_PREFIX: Final = b"\x84" + _head(3, 10) + b"Signature1"


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4: ``["Signature1", body_protected, external_aad = h'', payload]``."""
    return b"".join((_SIG1_PREFIX, _head(2, len(protected)), protected, b"\x40", _head(2, len(payload)), payload))


def holder_proof_input(context: str, digest: bytes, step: int, nonce: str | None) -> bytes:
    """``[context, digest, step, nonce / null]`` in deterministic CBOR (``step`` >= 0)."""
    ctx = context.encode()
    tail = b"\xf6" if nonce is None else _head(3, len(nonce.encode())) + nonce.encode()
    return b"".join((b"\x84", _head(3, len(ctx)), ctx, _head(2, len(digest)), digest, _head(0, step), tail))


class Sign1(NamedTuple):
    """A parsed COSE_Sign1; ``protected`` and ``payload`` are the exact signed bytes, not yet verified."""

    protected: bytes
    header: dict[int, Any]
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)


@lru_cache(maxsize=64)
def _alg_kid_header(alg: int, kid: bytes) -> bytes:
    # An issuer signs every copy under one (alg, kid): encode that header once.
    return dumps({HDR_ALG: alg, HDR_KID: kid})


def _protected(header: dict[int, Any]) -> bytes:
    alg, kid = header.get(HDR_ALG), header.get(HDR_KID)
    # Exact types only: the cache would otherwise conflate 1, 1.0 and True, which encode differently.
    if len(header) == 2 and type(alg) is int and type(kid) is bytes:
        return _alg_kid_header(alg, kid)
    return dumps(header)


_SIGN1_HEAD: Final = _head(6, COSE_SIGN1_TAG) + b"\x84"  # tag 18, then a four-element array


def sign1(header: dict[int, Any], payload: bytes, signer: SigningKey) -> bytes:
    """A tagged COSE_Sign1 with every header protected and an empty unprotected bucket.

    Written out like :func:`sig_structure`: exactly ``dumps(CBORTag(18, [protected, {}, payload, signature]))``.
    """
    protected = _protected(header)
    signature = signer.sign(sig_structure(protected, payload))
    return b"".join(
        (
            _SIGN1_HEAD,
            _head(2, len(protected)),
            protected,
            b"\xa0",  # the empty unprotected map
            _head(2, len(payload)),
            payload,
            _head(2, len(signature)),
            signature,
        )
    )


def parse_sign1(data: bytes, what: str = "COSE_Sign1") -> Sign1:
    """Parse a tagged COSE_Sign1 whose unprotected header is empty. The signature is not checked."""
    item = loads(data, what, tags=_SIGN1_TAGS)
    if type(item) is not cbor2.CBORTag or item.tag != COSE_SIGN1_TAG:
        raise MalformedInputError(f"{what} is not a tagged COSE_Sign1")
    body = item.value
    if type(body) is not list or len(body) != 4:
        raise MalformedInputError(f"{what} is not a four-element array")
    protected, unprotected, payload, signature = body
    if type(protected) is not bytes or type(payload) is not bytes or type(signature) is not bytes:
        raise MalformedInputError(f"{what} fields have the wrong types")
    if type(unprotected) is not dict or unprotected:
        # Every header is protected (signed): an unprotected one could be changed without notice.
        raise MalformedInputError(f"{what} has unprotected headers")
    header = loads(protected, f"{what} protected header")
    if type(header) is not dict:
        raise MalformedInputError(f"{what} protected header is not a map")
    return Sign1(protected, header, payload, signature)
