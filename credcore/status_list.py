"""IETF Token Status List (draft-ietf-oauth-status-list): the bit array and its compressed form.

Each referenced token has an index; its status is ``bits`` wide (1, 2, 4 or 8). Entry ``i`` lives in byte
``i * bits // 8`` starting at the least significant bit (§4.1). The list travels zlib-compressed (RFC 1950)
and base64url-encoded as ``lst``. A decompression bound protects verifiers from zlib bombs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError, PayloadTooLargeError

__all__ = ["MAX_LIST_BYTES", "Status", "StatusList"]

#: Largest decompressed list accepted (8 Mi entries at 1 bit); larger is refused as a zlib bomb.
MAX_LIST_BYTES: Final = 1 << 20
_BITS: Final = frozenset({1, 2, 4, 8})


class Status(IntEnum):
    """Status values registered by the draft (§7.1); 0x03 is application specific and unused here."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


@dataclass(frozen=True, slots=True)
class StatusList:
    """An immutable status list. ``set`` returns a new list."""

    bits: int
    data: bytes

    def __post_init__(self) -> None:
        if self.bits not in _BITS:
            raise MalformedInputError("status list 'bits' must be 1, 2, 4 or 8")
        if len(self.data) > MAX_LIST_BYTES:
            raise PayloadTooLargeError("status list is larger than allowed")

    @classmethod
    def empty(cls, size: int, bits: int = 2) -> StatusList:
        """A list of ``size`` entries, all VALID."""
        return cls(bits, bytes((size * bits + 7) // 8))

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def get(self, index: int) -> int:
        """The status at ``index``; raises :class:`MalformedInputError` outside the list."""
        if not 0 <= index < self.size:
            raise MalformedInputError("status index outside the list")
        bit = index * self.bits
        return (self.data[bit // 8] >> (bit % 8)) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> StatusList:
        if not 0 <= value < (1 << self.bits):
            raise MalformedInputError("status value does not fit the list's bits")
        self.get(index)  # bounds check
        bit = index * self.bits
        buf = bytearray(self.data)
        mask = ((1 << self.bits) - 1) << (bit % 8)
        buf[bit // 8] = (buf[bit // 8] & ~mask & 0xFF) | (value << (bit % 8))
        return StatusList(self.bits, bytes(buf))

    def compress(self) -> bytes:
        return zlib.compress(self.data, 9)

    @classmethod
    def decompress(cls, bits: int, compressed: bytes) -> StatusList:
        decomp = zlib.decompressobj()
        try:
            data = decomp.decompress(compressed, MAX_LIST_BYTES + 1)
        except zlib.error:
            raise MalformedInputError("status list is not valid zlib data") from None
        if len(data) > MAX_LIST_BYTES or decomp.unconsumed_tail:
            raise PayloadTooLargeError("status list is larger than allowed")
        if not decomp.eof:
            raise MalformedInputError("status list zlib stream is truncated")
        return cls(bits, data)

    def to_json(self) -> dict[str, object]:
        """The ``status_list`` claim: ``{"bits": n, "lst": base64url(zlib(list))}`` (§4.2)."""
        return {"bits": self.bits, "lst": b64u_encode(self.compress())}

    @classmethod
    def from_json(cls, obj: object) -> StatusList:
        if not isinstance(obj, dict):
            raise MalformedInputError("status_list claim is not an object")
        bits, lst = obj.get("bits"), obj.get("lst")
        if not isinstance(bits, int) or isinstance(bits, bool) or not isinstance(lst, str):
            raise MalformedInputError("status_list claim needs integer 'bits' and string 'lst'")
        if bits not in _BITS:
            raise MalformedInputError("status list 'bits' must be 1, 2, 4 or 8")
        return cls.decompress(bits, b64u_decode(lst))
