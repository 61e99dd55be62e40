"""Decentralized identifiers civicpass reads and writes: ``did:key`` and ``did:ethr``.

- ``did:key`` (W3C CCG did:key v0.7): ``did:key:z<base58btc(multicodec varint || public key)>``, EC keys
  compressed. Holders and wallets use it for keys that live nowhere else. Only the curves of
  :data:`credcore.keys.ALGORITHMS` resolve; every other key type is refused with
  :class:`UnsupportedAlgorithmError`, never misread.
- ``did:ethr`` (uPort/Veramo did:ethr method): ``did:ethr:<chain id as 0x-hex>:<EIP-55 address>``, or bare
  ``did:ethr:<address>`` for mainnet. It is how an issuer is named on chain (the ``iss`` of its
  credentials and its ``TrustRegistry`` entry, so one name links the two), derived from its secp256k1 account key.

Why hand-written base58: it is a dozen lines, not worth a dependency. Input is length-bounded first because
big-integer base58 decoding is quadratic in the length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from credcore.errors import MalformedInputError, UnsupportedAlgorithmError
from credcore.keys import Curve, PublicKey
from credcore.merkle import keccak256

__all__ = [
    "DidEthr",
    "did_ethr",
    "did_key",
    "ethereum_address",
    "parse_did_ethr",
    "resolve_did_key",
    "to_checksum_address",
]

_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58)}
#: Longest did:key accepted (an RSA-4096 did:key is ~750 characters; it is then refused as unsupported).
MAX_DID_LENGTH: Final = 1024

# multicodec table (github.com/multiformats/multicodec): the key types we accept ...
_CODEC_FOR_CURVE: Final[dict[Curve, int]] = {"Ed25519": 0xED, "secp256k1": 0xE7, "P-256": 0x1200}
_CURVE_FOR_CODEC: Final = {code: curve for curve, code in _CODEC_FOR_CURVE.items()}
# ... and the ones we recognise only to refuse them by name.
_KNOWN_UNSUPPORTED: Final = {
    0xEC: "X25519",
    0xEA: "BLS12-381 G1",
    0xEB: "BLS12-381 G2",
    0xEE: "BLS12-381 G1+G2",
    0x1201: "P-384",
    0x1202: "P-521",
    0x1205: "RSA",
}
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_PUBKEY: Final = re.compile(r"0x0[23][0-9a-fA-F]{64}")
_CHAIN: Final = re.compile(r"0x[0-9a-fA-F]{1,16}")


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise MalformedInputError("not base58btc")
        n = n * 58 + _B58_INDEX[c]
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def _varint(code: int) -> bytes:
    out = bytearray()
    while True:
        byte, code = code & 0x7F, code >> 7
        out.append(byte | (0x80 if code else 0))
        if not code:
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    code = 0
    for i, byte in enumerate(data[:4]):  # multicodec codes we care about fit in 3 bytes
        code |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and byte == 0:
                raise MalformedInputError("multicodec varint is not minimal")
            return code, i + 1
    raise MalformedInputError("multicodec varint is malformed")


# --- did:key ------------------------------------------------------------------------------------------
def did_key(public_key: PublicKey) -> str:
    """The ``did:key`` of ``public_key`` (EC points compressed, as did:key requires)."""
    raw = _varint(_CODEC_FOR_CURVE[public_key.curve]) + public_key.to_bytes(compressed=True)
    return "did:key:z" + _b58encode(raw)


def resolve_did_key(did: str) -> PublicKey:
    """The public key a ``did:key`` (optionally with a ``#fragment``) encodes.

    Raises:
        MalformedInputError: not a well-formed did:key (InvalidKeyError if the point is off-curve).
        UnsupportedAlgorithmError: a well-formed did:key for a key type civicpass does not accept.
    """
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise MalformedInputError("did:key is not text of an acceptable length")
    identifier = did.split("#", 1)[0]
    if not identifier.startswith("did:key:z"):
        raise MalformedInputError("not a base58btc did:key")
    raw = _b58decode(identifier[len("did:key:z") :])
    code, used = _read_varint(raw)
    curve = _CURVE_FOR_CODEC.get(code)
    if curve is None:
        name = _KNOWN_UNSUPPORTED.get(code, f"multicodec 0x{code:x}")
        raise UnsupportedAlgorithmError(f"did:key type {name} is not accepted")
    key = raw[used:]
    if curve != "Ed25519" and len(key) != 33:
        raise MalformedInputError("did:key EC keys must be compressed points")
    return PublicKey.from_bytes(curve, key)


# --- Ethereum addresses and did:ethr -------------------------------------------------------------------
def to_checksum_address(address: str) -> str:
    """EIP-55 mixed-case form of a 20-byte hex address. Mixed-case input must already be correct."""
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        raise MalformedInputError("not a 0x-prefixed 20-byte hex address")
    lower = address[2:].lower()
    digest = keccak256(lower.encode("ascii")).hex()
    checksummed = "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest, strict=False))
    body = address[2:]
    if body != body.lower() and body != body.upper() and address != checksummed:
        raise MalformedInputError("address fails its EIP-55 checksum")
    return checksummed


def ethereum_address(public_key: PublicKey) -> str:
    """The checksummed Ethereum account of a secp256k1 key: last 20 bytes of keccak256(x || y)."""
    if public_key.curve != "secp256k1":
        raise UnsupportedAlgorithmError("only secp256k1 keys have an Ethereum address")
    raw = public_key.to_bytes(compressed=False)[1:]
    return to_checksum_address("0x" + keccak256(raw)[-20:].hex())


def did_ethr(address: str, chain_id: int | None = None) -> str:
    """``did:ethr:<0x-hex chain id>:<checksummed address>``; bare ``did:ethr:<address>`` if ``chain_id`` is None."""
    checksummed = to_checksum_address(address)
    if chain_id is None:
        return f"did:ethr:{checksummed}"
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
        raise MalformedInputError("chain id must be a positive integer")
    return f"did:ethr:{hex(chain_id)}:{checksummed}"


@dataclass(frozen=True, slots=True)
class DidEthr:
    """A parsed did:ethr: ``chain_id`` is None for the bare (mainnet) form."""

    chain_id: int | None
    address: str
    public_key: PublicKey | None = None


def parse_did_ethr(did: str) -> DidEthr:
    """Parse ``did:ethr:[0x-chain:]<address | compressed secp256k1 key>``; addresses come back checksummed."""
    if not isinstance(did, str) or len(did) > 256 or not did.startswith("did:ethr:"):
        raise MalformedInputError("not a did:ethr")
    parts = did.split("#", 1)[0][len("did:ethr:") :].split(":")
    if len(parts) == 2 and _CHAIN.fullmatch(parts[0]):
        chain_id: int | None = int(parts[0], 16)
        ident = parts[1]
    elif len(parts) == 1:
        chain_id, ident = None, parts[0]
    else:
        raise MalformedInputError("did:ethr network must be a 0x-hex chain id")
    if chain_id == 0:
        raise MalformedInputError("chain id must be a positive integer")
    if _PUBKEY.fullmatch(ident):
        key = PublicKey.from_bytes("secp256k1", bytes.fromhex(ident[2:]))
        return DidEthr(chain_id, ethereum_address(key), key)
    return DidEthr(chain_id, to_checksum_address(ident))
