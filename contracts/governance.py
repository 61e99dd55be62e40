"""Typed binding of TrustGovernance: the k-of-n BLS consortium that holds the TrustRegistry's admin role.

Why a separate binding (not a :class:`contracts._facade.Facade`): the governance contract is optional and deployed
after the registries, by the consortium, so it stays out of ``deploy_all`` and the registry artifact list. Digests
are computed locally by :mod:`credcore.bls` (members sign offline); :meth:`TrustGovernance.onchain_digest` asks the
contract, and the tests check both agree. Reverts decode through the shared table in contracts/errors.py, which
holds TrustGovernance's errors (codes ``governance_*``, re-exported here) beside the registries': a revert of the
TrustRegistry bubbling up through a proposal decodes as the registry's own error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from contracts._tx import PendingTx, Signer, call_view, chain_errors
from contracts.errors import (
    InvalidMemberKeyError,
    InvalidProofOfPossessionError,
    InvalidSignatureError,
    InvalidThresholdError,
    StaleNonceError,
    TooFewSignersError,
    UnknownActionError,
    UnknownMemberError,
    UnknownSignerError,
    decode_revert,
    revert_data_of,
)
from credcore import bls
from credcore.errors import CredError

__all__ = [
    "GovernanceState",
    "InvalidMemberKeyError",
    "InvalidProofOfPossessionError",
    "InvalidSignatureError",
    "InvalidThresholdError",
    "StaleNonceError",
    "TooFewSignersError",
    "TrustGovernance",
    "UnknownActionError",
    "UnknownMemberError",
    "UnknownSignerError",
]


# Gas caps (unused gas is not charged): one pairing + hash-to-G2 per proposal, one more per admitted member.
_GAS_VERIFY = 260_000
_GAS_ADMIT = 230_000
_GAS_PER_MEMBER = 35_000
_GAS_PER_REGISTRY = 45_000


@cache
def _artifact() -> dict[str, Any]:
    text = resources.files("contracts").joinpath("artifacts", "TrustGovernance.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class GovernanceState:
    """The consortium as the chain holds it now."""

    address: ChecksumAddress
    chain_id: int
    nonce: int
    threshold: int
    members: tuple[bytes, ...]  # compressed G1 public keys, in signer-bitmap order


class TrustGovernance:
    """Read the consortium and submit signed proposals."""

    def __init__(self, w3: Web3, address: str) -> None:
        self._w3 = w3
        self.address: ChecksumAddress = to_checksum_address(address)
        self._c = w3.eth.contract(address=self.address, abi=_artifact()["abi"])
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"TrustGovernance({self.address})"

    @property
    def w3(self) -> Web3:
        return self._w3

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        sender: Signer,
        *,
        registry: str,
        members: Sequence[tuple[bytes, bytes]],
        threshold: int,
    ) -> TrustGovernance:
        """Deploy for ``registry`` with founding ``members`` as (public key, proof of possession) pairs.

        The proofs are checked here first (a bad one would only waste the deployment's gas) and again on chain.
        Hand over the registry afterwards: ``TrustRegistry.transfer_admin(governance.address, ...)``.
        """
        rx = cls.send_deploy(sender, registry=registry, members=members, threshold=threshold).wait()
        assert rx.contract_address is not None
        return cls(w3, rx.contract_address)

    @staticmethod
    def send_deploy(
        sender: Signer, *, registry: str, members: Sequence[tuple[bytes, bytes]], threshold: int
    ) -> PendingTx:
        """Send the deployment of :meth:`deploy` without waiting (the receipt's ``contract_address`` is it)."""
        if not 1 <= threshold <= len(members) <= bls.MAX_MEMBERS:
            raise InvalidThresholdError("need 1 <= threshold <= members <= 64")
        for pk, pop in members:
            if not bls.verify_possession(pk, pop):
                raise InvalidProofOfPossessionError("a founding member's proof of possession does not verify")
        keys = [bls.g1_xy(pk) for pk, _ in members]
        pops = [bls.g2_xy(pop) for _, pop in members]
        args = abi_encode(["address", "bytes[]", "bytes[]", "uint8"], [registry, keys, pops, threshold])
        bytecode = bytes.fromhex(_artifact()["bytecode"][2:])
        gas = 2_000_000 + (_GAS_ADMIT + _GAS_PER_MEMBER) * len(members)  # most of it: the 8 KB code deposit
        return sender.send(None, bytecode + args, gas=gas)

    # --- reads ---------------------------------------------------------------------------------------------
    def chain_id(self) -> int:
        if self._chain_id is None:
            with chain_errors():
                self._chain_id = int(self._w3.eth.chain_id)
        return self._chain_id

    def nonce(self) -> int:
        return int(call_view(self._c.functions.nonce().call))

    def threshold(self) -> int:
        return int(call_view(self._c.functions.threshold().call))

    def members(self) -> list[bytes]:
        """Compressed public keys in signer-bitmap order."""
        return [bls.g1_from_xy(bytes(xy)) for xy in call_view(self._c.functions.members().call)]

    def state(self) -> GovernanceState:
        return GovernanceState(self.address, self.chain_id(), self.nonce(), self.threshold(), tuple(self.members()))

    def digest(self, proposal: bls.Proposal, nonce: int) -> bytes:
        """The message members sign, computed locally."""
        return bls.proposal_digest(proposal, chain_id=self.chain_id(), governance=self.address, nonce=nonce)

    def onchain_digest(self, proposal: bls.Proposal, nonce: int) -> bytes:
        fn = self._c.functions.proposalDigest(nonce, int(proposal.action), proposal.payload)
        return bytes(call_view(fn.call))

    def snapshot_binding(self, block_number: int) -> bls.SnapshotBinding:
        return bls.SnapshotBinding(self.chain_id(), self.address, block_number)

    def onchain_snapshot_digest(self, content: bytes, block_number: int) -> bytes:
        return bytes(call_view(self._c.functions.snapshotDigest(keccak(content), block_number).call))

    def hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        """RFC 9380 hash_to_curve as the contract computes it (EIP-2537 encoding, 256 bytes)."""
        return bytes(call_view(self._c.functions.hashToG2(message, dst).call))

    # --- writes --------------------------------------------------------------------------------------------
    def execute(
        self,
        proposal: bls.Proposal,
        *,
        nonce: int,
        signers: int,
        signature: bytes,
        sender: Signer,
        preflight: bool = True,
        gas: int | None = None,
    ) -> PendingTx:
        """Submit ``proposal`` with the aggregate ``signature`` (compressed, 96 bytes) of the members in ``signers``.

        Anyone may submit: authority comes from the signatures, not the sender.
        """
        data = self._encode_execute(proposal, nonce, signers, bls.g2_xy(signature))
        gas = gas if gas is not None else _gas_for(proposal, len(self.members()) if proposal.action in
                                                    (bls.Action.ADD_MEMBER, bls.Action.REMOVE_MEMBER) else 0)
        if preflight:
            self._preflight(sender, data, gas)
        return sender.send(self.address, data, gas=gas)

    def _encode_execute(self, proposal: bls.Proposal, nonce: int, signers: int, signature_xy: bytes) -> bytes:
        selector = keccak(text="execute(uint64,uint8,bytes,uint256,bytes)")[:4]
        args = [nonce, int(proposal.action), proposal.payload, signers, signature_xy]
        return selector + abi_encode(["uint64", "uint8", "bytes", "uint256", "bytes"], args)

    def _preflight(self, sender: Signer, data: bytes, gas: int) -> None:
        call = {"from": sender.address, "to": self.address, "data": data, "gas": gas}
        with chain_errors():
            try:
                self._w3.eth.call(call)  # type: ignore[arg-type]
            except CredError:
                raise
            except Exception as exc:
                raw = revert_data_of(exc)
                if raw is None and type(exc).__name__ not in {"ContractLogicError", "TransactionFailed"}:
                    raise
                raise decode_revert(raw) from None


def _gas_for(proposal: bls.Proposal, members: int) -> int:
    action = proposal.action
    if action is bls.Action.ACCREDIT_ISSUER:
        _, identifier, name, types = proposal.arguments()
        text = len(identifier.encode()) + len(name.encode()) + sum(len(t.encode()) for t in types)
        return _GAS_VERIFY + 300_000 + 60_000 * len(types) + 700 * text + 3 * _GAS_PER_REGISTRY
    if action is bls.Action.SUSPEND_ISSUER:
        return _GAS_VERIFY + 80_000 + 3 * _GAS_PER_REGISTRY
    if action is bls.Action.ADD_MEMBER:
        return _GAS_VERIFY + _GAS_ADMIT + 100_000 + _GAS_PER_MEMBER * (members + 1)
    if action is bls.Action.REMOVE_MEMBER:
        return _GAS_VERIFY + 100_000 + _GAS_PER_MEMBER * members
    return _GAS_VERIFY + 60_000
