"""BLS12-381 group operations behind one small interface, in two interchangeable backends (private module).

Why two: ``py_ecc`` is the reference implementation (pure Python, so pairings are slow); arkworks (through
``py-arkworks-bls12381``) is native and used whenever it is installed. Both take and return ZCash-compressed points
(48-byte G1, 96-byte G2), check subgroup membership on every decode, and are tested to agree byte for byte
(tests/unit/credcore/test_bls.py, tests/vectors/test_hash_to_curve.py). Callers use :mod:`credcore.bls`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from credcore.errors import MalformedInputError

__all__ = ["Backend", "BlsEncodingError", "available_backends"]


class BlsEncodingError(MalformedInputError):
    """Bytes that are not a valid BLS12-381 public key, signature or secret key."""

    code = "bls_encoding_invalid"
    title = "Invalid BLS key or signature encoding"


class Backend(Protocol):
    """The group operations this module needs; points travel as ZCash-compressed bytes (48 / 96)."""

    name: str

    def sk_to_pk(self, sk: int) -> bytes: ...
    def sign(self, sk: int, message: bytes, dst: bytes) -> bytes: ...
    def add_g1(self, points: Sequence[bytes]) -> bytes: ...
    def add_g2(self, points: Sequence[bytes]) -> bytes: ...
    def verify(self, pk: bytes, message: bytes, signature: bytes, dst: bytes) -> bool: ...
    def hash_to_g1(self, message: bytes, dst: bytes) -> bytes: ...
    def hash_to_g2(self, message: bytes, dst: bytes) -> bytes: ...
    def g1_xy(self, pk: bytes) -> bytes: ...
    def g2_xy(self, signature: bytes) -> bytes: ...
    def g1_from_xy(self, xy: bytes) -> bytes: ...


class _PyEcc:
    """Reference backend (pure Python)."""

    name = "py_ecc"

    def __init__(self) -> None:
        from hashlib import sha256

        import py_ecc.optimized_bls12_381 as curve
        from py_ecc.bls import g2_primitives as prim
        from py_ecc.bls import hash_to_curve as h2c

        # py_ecc's own annotations disagree with each other (bn128 vs bls12-381 point types): treat it as untyped
        self._prim: Any = prim
        self._h2c: Any = h2c
        self._c: Any = curve
        self._sha256: Any = sha256

    def _g1(self, pk: bytes) -> Any:
        try:
            pt = self._prim.pubkey_to_G1(pk)
        except Exception:
            raise BlsEncodingError("not a compressed G1 point") from None
        if self._c.is_inf(pt) or not self._prim.subgroup_check(pt):
            raise BlsEncodingError("G1 point is the identity or outside the subgroup")
        return pt

    def _g2(self, sig: bytes) -> Any:
        try:
            pt = self._prim.signature_to_G2(sig)
        except Exception:
            raise BlsEncodingError("not a compressed G2 point") from None
        if not self._prim.subgroup_check(pt):
            raise BlsEncodingError("G2 point outside the subgroup")
        return pt

    def sk_to_pk(self, sk: int) -> bytes:
        return bytes(self._prim.G1_to_pubkey(self._c.multiply(self._c.G1, sk)))

    def sign(self, sk: int, message: bytes, dst: bytes) -> bytes:
        return bytes(self._prim.G2_to_signature(self._c.multiply(self._h2c.hash_to_G2(message, dst, self._sha256), sk)))

    def add_g1(self, points: Sequence[bytes]) -> bytes:
        acc = self._c.Z1
        for p in points:
            acc = self._c.add(acc, self._g1(p))
        return bytes(self._prim.G1_to_pubkey(acc))

    def add_g2(self, points: Sequence[bytes]) -> bytes:
        acc = self._c.Z2
        for p in points:
            acc = self._c.add(acc, self._g2(p))
        return bytes(self._prim.G2_to_signature(acc))

    def verify(self, pk: bytes, message: bytes, signature: bytes, dst: bytes) -> bool:
        pk_pt, sig_pt = self._g1(pk), self._g2(signature)
        h = self._h2c.hash_to_G2(message, dst, self._sha256)
        f = self._c.pairing(sig_pt, self._c.neg(self._c.G1), final_exponentiate=False)
        f = f * self._c.pairing(h, pk_pt, final_exponentiate=False)
        return bool(self._c.final_exponentiate(f) == self._c.FQ12.one())

    def hash_to_g1(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._prim.G1_to_pubkey(self._h2c.hash_to_G1(message, dst, self._sha256)))

    def hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._prim.G2_to_signature(self._h2c.hash_to_G2(message, dst, self._sha256)))

    def g1_xy(self, pk: bytes) -> bytes:
        x, y = self._c.normalize(self._g1(pk))
        return int(x).to_bytes(48, "big") + int(y).to_bytes(48, "big")

    def g2_xy(self, signature: bytes) -> bytes:
        x, y = self._c.normalize(self._g2(signature))
        return b"".join(int(c).to_bytes(48, "big") for c in (*x.coeffs, *y.coeffs))

    def g1_from_xy(self, xy: bytes) -> bytes:
        if len(xy) != 96:
            raise BlsEncodingError("x || y must be 96 bytes")
        x, y = (self._c.FQ(int.from_bytes(xy[i : i + 48], "big")) for i in (0, 48))
        pt = (x, y, self._c.FQ.one())
        if not self._c.is_on_curve(pt, self._c.b):
            raise BlsEncodingError("not a G1 point")
        return self.add_g1([bytes(self._prim.G1_to_pubkey(pt))])


class _Arkworks:
    """Native backend (arkworks via py-arkworks-bls12381); decoding checks the subgroup."""

    name = "arkworks"

    def __init__(self) -> None:
        import py_arkworks_bls12381 as ark

        self._a: Any = ark
        self._neg_g1 = -ark.G1Point()

    def _g1(self, pk: bytes) -> Any:
        try:
            pt = self._a.G1Point.from_compressed_bytes(bytes(pk))
        except (ValueError, TypeError):
            raise BlsEncodingError("not a compressed G1 point in the subgroup") from None
        if pt == self._a.G1Point.identity():
            raise BlsEncodingError("G1 point is the identity")
        return pt

    def _g2(self, sig: bytes) -> Any:
        try:
            return self._a.G2Point.from_compressed_bytes(bytes(sig))
        except (ValueError, TypeError):
            raise BlsEncodingError("not a compressed G2 point in the subgroup") from None

    def sk_to_pk(self, sk: int) -> bytes:
        return bytes((self._a.G1Point() * self._a.Scalar(sk)).to_compressed_bytes())

    def sign(self, sk: int, message: bytes, dst: bytes) -> bytes:
        return bytes((self._a.G2Point.hash_to_curve(message, dst) * self._a.Scalar(sk)).to_compressed_bytes())

    def add_g1(self, points: Sequence[bytes]) -> bytes:
        acc = self._a.G1Point.identity()
        for p in points:
            acc = acc + self._g1(p)
        return bytes(acc.to_compressed_bytes())

    def add_g2(self, points: Sequence[bytes]) -> bytes:
        acc = self._a.G2Point.identity()
        for p in points:
            acc = acc + self._g2(p)
        return bytes(acc.to_compressed_bytes())

    def verify(self, pk: bytes, message: bytes, signature: bytes, dst: bytes) -> bool:
        pk_pt, sig_pt = self._g1(pk), self._g2(signature)
        h = self._a.G2Point.hash_to_curve(message, dst)
        return bool(self._a.GT.pairing_check([pk_pt, self._neg_g1], [h, sig_pt]))

    def hash_to_g1(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._a.G1Point.hash_to_curve(message, dst).to_compressed_bytes())

    def hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._a.G2Point.hash_to_curve(message, dst).to_compressed_bytes())

    def g1_xy(self, pk: bytes) -> bytes:
        return bytes(self._g1(pk).to_xy_bytes_be())

    def g2_xy(self, signature: bytes) -> bytes:
        return bytes(self._g2(signature).to_xy_bytes_be())

    def g1_from_xy(self, xy: bytes) -> bytes:
        try:
            pt = self._a.G1Point.from_xy_bytes_be(bytes(xy))
        except (ValueError, TypeError):
            raise BlsEncodingError("not a G1 point in the subgroup") from None
        return bytes(pt.to_compressed_bytes())


def available_backends() -> dict[str, Backend]:
    """Every installed backend by name, native first."""
    found: dict[str, Backend] = {}
    with contextlib.suppress(ImportError):
        found["arkworks"] = _Arkworks()
    found["py_ecc"] = _PyEcc()
    return found
