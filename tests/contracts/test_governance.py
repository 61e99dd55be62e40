"""TrustGovernance on chain: 3-of-5 BLS consortium holding the TrustRegistry's admin role.

Runs on the in-process py-evm chain (Prague, EIP-2537 via py_ecc: every pairing there takes seconds, so the
consortium is deployed once per backend and each test reverts to that snapshot) and on anvil when node is present.
Refusals are checked by preflight (eth_call) where possible, which runs the same code without mining.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import keccak
from support import SHARED_VECTORS

from contracts import Signer, TrustRegistry
from contracts.governance import (
    InvalidProofOfPossessionError,
    InvalidSignatureError,
    StaleNonceError,
    TooFewSignersError,
    TrustGovernance,
    UnknownSignerError,
)
from credcore import bls

pytestmark = pytest.mark.chain

RESIDENT = "urn:civicpass:ResidentCredential:1"
SKS = [bls.keygen(keccak(text=f"civicpass-test-member-{i}")) for i in range(5)]
PKS = [bls.public_key(sk) for sk in SKS]
R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001  # BLS12-381 group order
OUTSIDER_SK = bls.keygen(keccak(text="civicpass-test-not-a-member"))


@dataclass
class World:
    chain: Any
    gov: TrustGovernance
    trust: TrustRegistry
    snapshot: Any = None

    def take(self) -> None:
        if self.chain.backend == "tester":
            self.snapshot = self.chain.w3.provider.ethereum_tester.take_snapshot()
        else:
            self.snapshot = self.chain.w3.provider.make_request("evm_snapshot", [])["result"]

    def restore(self) -> None:
        if self.chain.backend == "tester":
            self.chain.w3.provider.ethereum_tester.revert_to_snapshot(self.snapshot)
        else:
            assert self.chain.w3.provider.make_request("evm_revert", [self.snapshot])["result"]
        for signer in self.chain.signers.values():
            signer.reset_nonce()
        self.take()

    @property
    def submitter(self) -> Signer:
        return self.chain.outsider  # anyone may submit: authority comes from the signatures

    def sign(self, proposal: bls.Proposal, signers: Sequence[int], *, nonce: int | None = None,
             sks: Sequence[int] = SKS) -> tuple[int, int, bytes]:
        nonce = self.gov.nonce() if nonce is None else nonce
        digest = self.gov.digest(proposal, nonce)
        signature = bls.aggregate([bls.sign(sks[i], digest) for i in signers])
        return nonce, bls.signer_bitmap(signers), signature


@pytest.fixture(scope="module", params=[pytest.param("tester", marks=pytest.mark.slow), "anvil"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    chain = request.getfixturevalue(f"{request.param}_chain")
    chain.revert()
    trust = chain.registries(chain.base)[0]
    members = [(pk, bls.prove_possession(sk)) for sk, pk in zip(SKS, PKS, strict=True)]
    gov = TrustGovernance.deploy(chain.w3, chain.admin, registry=trust.address, members=members, threshold=3)
    trust.transfer_admin(gov.address, sender=chain.admin).wait()
    w = World(chain, gov, trust)
    w.take()
    yield w
    chain.revert()  # back to the shared base snapshot for other modules


@pytest.fixture
def gov(world: World) -> World:
    world.restore()
    return world


def test_deployment_holds_members_threshold_and_registry_admin(gov):
    assert gov.gov.members() == PKS
    assert gov.gov.threshold() == 3
    assert gov.gov.nonce() == 0
    assert gov.trust.admin() == gov.gov.address


def test_local_digests_match_the_contract(gov):
    proposal = bls.Proposal.of(bls.Action.SUSPEND_ISSUER, gov.chain.issuer.address)
    assert gov.gov.digest(proposal, 7) == gov.gov.onchain_digest(proposal, 7)
    assert gov.gov.snapshot_binding(42) == bls.SnapshotBinding(gov.gov.chain_id(), gov.gov.address, 42)
    content = b'{"issuers": []}'
    assert bls.snapshot_digest(content, gov.gov.snapshot_binding(42)) == gov.gov.onchain_snapshot_digest(content, 42)


def test_three_of_five_accredit_an_issuer_and_the_replay_is_refused(gov):
    account = gov.chain.issuer2.address
    identifier = f"did:ethr:{hex(gov.gov.chain_id())}:{account}"
    proposal = bls.Proposal.of(bls.Action.ACCREDIT_ISSUER, account, identifier, "Market office", [RESIDENT])
    nonce, signers, signature = gov.sign(proposal, [0, 2, 4])
    gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter,
                    preflight=False).wait()
    assert gov.trust.may_issue(account, RESIDENT)
    assert gov.gov.nonce() == 1
    with pytest.raises(StaleNonceError):
        gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter)


def test_threshold_change_costs_under_200k_gas_and_takes_effect(gov):
    proposal = bls.Proposal.of(bls.Action.SET_THRESHOLD, 2)
    nonce, signers, signature = gov.sign(proposal, [1, 2, 3])
    rx = gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter,
                         preflight=False).wait()
    assert rx.gas_used < 200_000, rx.gas_used
    assert gov.gov.threshold() == 2


def test_k_minus_one_signatures_are_refused(gov):
    proposal = bls.Proposal.of(bls.Action.SUSPEND_ISSUER, gov.chain.issuer.address)
    nonce, signers, signature = gov.sign(proposal, [0, 1])
    with pytest.raises(TooFewSignersError):
        gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter)


def test_a_non_members_signature_is_refused(gov):
    proposal = bls.Proposal.of(bls.Action.SUSPEND_ISSUER, gov.chain.issuer.address)
    # an outsider's key signs in place of member 4, which the bitmap claims
    sks = [*SKS[:4], OUTSIDER_SK]
    nonce, signers, signature = gov.sign(proposal, [0, 1, 4], sks=sks)
    with pytest.raises(InvalidSignatureError):
        gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter)
    with pytest.raises(UnknownSignerError):  # a bit past the member list
        gov.gov.execute(proposal, nonce=nonce, signers=signers | 1 << 5, signature=signature, sender=gov.submitter)


def test_a_rogue_key_without_proof_of_possession_is_refused_at_registration(gov):
    # The attack: pick x, publish pk_rogue = x*G1 - (pk_0 + pk_1); then "pk_0 + pk_1 + pk_rogue" = x*G1, so
    # the attacker alone forges a 3-signer aggregate. It cannot sign a proof of possession for pk_rogue.
    x = 0x1234567
    neg = [bls.public_key(R - sk) for sk in SKS[:2]]  # -pk_i = (r - sk_i) * G1
    rogue = bls.default_backend().add_g1([bls.public_key(x), *neg])
    forged = bls.sign(x, b"anything")
    assert bls.fast_aggregate_verify([PKS[0], PKS[1], rogue], b"anything", forged)  # why PoP matters
    fake_pop = bls.prove_possession(x)  # a PoP for x*G1, not for the rogue key
    proposal = bls.Proposal.add_member(rogue, fake_pop)
    nonce, signers, signature = gov.sign(proposal, [0, 1, 2])
    with pytest.raises(InvalidProofOfPossessionError):
        gov.gov.execute(proposal, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter)


def test_the_constructor_checks_proofs_of_possession_on_chain_too(gov):
    from eth_abi import encode as abi_encode

    from contracts.governance import _artifact

    wrong_pop = bls.prove_possession(SKS[1])  # a valid PoP, for another key
    args = abi_encode(["address", "bytes[]", "bytes[]", "uint8"],
                      [gov.trust.address, [bls.g1_xy(PKS[0])], [bls.g2_xy(wrong_pop)], 1])
    code = bytes.fromhex(_artifact()["bytecode"][2:]) + args
    with pytest.raises(InvalidProofOfPossessionError):  # the binding's deploy() refuses this before sending;
        gov.chain.admin.send(None, code, gas=3_000_000).wait()  # sent raw, the shared decoder names the revert


def test_hash_to_g2_on_chain_matches_rfc9380_vectors(gov):
    doc = json.loads((SHARED_VECTORS / "hash-to-curve" / "BLS12381G2_XMD:SHA-256_SSWU_RO_.json").read_text())
    vectors = doc["vectors"] if gov.chain.backend == "anvil" else doc["vectors"][:2]  # py-evm: seconds each
    for v in vectors:
        point = gov.gov.hash_to_g2(v["msg"].encode(), doc["dst"].encode())
        coords = [int(c, 16) for c in (*v["P"]["x"].split(","), *v["P"]["y"].split(","))]
        assert [int.from_bytes(point[i : i + 64], "big") for i in range(0, 256, 64)] == coords, v["msg"]


def test_membership_changes_take_effect_and_keep_the_pop_check(gov):
    newcomer = bls.keygen(keccak(text="civicpass-test-newcomer"))
    add = bls.Proposal.add_member(bls.public_key(newcomer), bls.prove_possession(newcomer))
    nonce, signers, signature = gov.sign(add, [0, 1, 2])
    gov.gov.execute(add, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter,
                    preflight=False).wait()
    assert gov.gov.members() == [*PKS, bls.public_key(newcomer)]
    remove = bls.Proposal.remove_member(PKS[1])
    nonce, signers, signature = gov.sign(remove, [0, 3, 5], sks=[*SKS, newcomer])
    gov.gov.execute(remove, nonce=nonce, signers=signers, signature=signature, sender=gov.submitter,
                    preflight=False).wait()
    assert gov.gov.members() == [PKS[0], bls.public_key(newcomer), *PKS[2:]]  # the last took the freed position
    assert gov.gov.nonce() == 2
