"""Typed facade over the AnchorRegistry: one transaction anchors the Merkle root of a whole issuance batch.

Roots come from credcore's OpenZeppelin-compatible ``StandardMerkleTree`` over ``bytes32`` credential digests;
:meth:`AnchorRegistry.verify_inclusion` asks the contract to check a proof exactly as ``MerkleProof`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from contracts._facade import Facade, as_bytes32
from contracts._tx import PendingTx, Signer, call_view
from contracts.errors import InvalidRegistryArgumentError

__all__ = ["GAS_ANCHOR", "AnchorRecord", "AnchorRegistry"]

#: Gas limit per anchor (the budget for what it uses is 50,000).
GAS_ANCHOR = 80_000


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    root: bytes
    issuer: ChecksumAddress
    count: int
    timestamp: int
    block_number: int


def _anchor_args(root: bytes, count: int) -> list[object]:
    root = as_bytes32(root, "root")
    if root == bytes(32):
        raise InvalidRegistryArgumentError("root must not be zero")
    if not isinstance(count, int) or not 0 < count < 2**64:
        raise InvalidRegistryArgumentError("count must be a positive 64-bit integer")
    return [root, count]


class AnchorRegistry(Facade):
    """Anchor roots and read them back."""

    contract_name = "AnchorRegistry"

    def anchor(self, root: bytes, count: int, *, sender: Signer, preflight: bool = True) -> PendingTx:
        """Anchor ``root`` of a batch of ``count`` credentials. Pipelined senders pass ``preflight=False``."""
        return self._send("anchor", _anchor_args(root, count), sender=sender, gas=GAS_ANCHOR, preflight=preflight)

    def anchor_many(self, batches: Iterable[tuple[bytes, int]], *, sender: Signer) -> list[PendingTx]:
        """Anchor several ``(root, count)`` batches, one transaction each, signed with consecutive nonces and
        sent in JSON-RPC batches without preflight (wait with :func:`contracts.wait_all`)."""
        calls = [(self.address, self._encode("anchor", _anchor_args(r, c)), GAS_ANCHOR) for r, c in batches]
        return sender.send_many(calls)

    def anchor_of(self, root: bytes) -> AnchorRecord | None:
        """The anchor of ``root``, or None if it was never anchored."""
        root = as_bytes32(root, "root")
        issuer, count, timestamp, block = call_view(self._c.functions.anchorOf(root).call)
        if int(issuer, 16) == 0:
            return None
        return AnchorRecord(root, to_checksum_address(issuer), count, timestamp, block)

    def anchors(self, *, issuer: str | None = None, from_block: int | None = None) -> list[AnchorRecord]:
        """Every anchor (of ``issuer``, if given) since ``from_block``, in chain order."""
        topics: list[bytes | None] = []
        if issuer is not None:
            if not is_address(issuer):
                raise InvalidRegistryArgumentError("not an account address")
            topics = [bytes.fromhex(issuer[2:])]
        events = self._events("RootAnchored", topics=topics, from_block=from_block)
        records = [self.anchor_of(e.args["root"]) for e in events]
        return [r for r in records if r is not None]

    def verify_inclusion(self, root: bytes, value: bytes, proof: Sequence[bytes]) -> bool:
        """Is ``value`` (a credential digest) a leaf of the anchored tree ``root``? False if not anchored."""
        args = (as_bytes32(root, "root"), as_bytes32(value, "value"), [as_bytes32(p, "proof node") for p in proof])
        return bool(call_view(self._c.functions.verifyInclusion(*args).call))

    def is_active_issuer(self, account: str) -> bool:
        """The standing this registry last received from the TrustRegistry."""
        return bool(call_view(self._c.functions.isActiveIssuer(to_checksum_address(account)).call))
