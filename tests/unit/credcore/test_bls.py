"""credcore.bls: IETF BLS (PoP ciphersuite) keys, signatures, quorums, proposal digests and signed snapshots.

The native backend is checked byte for byte against py_ecc's G2ProofOfPossession (the reference); py_ecc costs
about a second per signature or pairing, so it is called only where the comparison is the point.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak
from py_ecc.bls import G2ProofOfPossession as Reference

from credcore import bls
from credcore.errors import CredError, MalformedInputError

SKS = [bls.keygen(keccak(text=f"member-{i}")) for i in range(5)]
PKS = [bls.public_key(sk) for sk in SKS]
OUTSIDER = bls.keygen(keccak(text="outsider"))
GOV = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BINDING = bls.SnapshotBinding(chain_id=1337, governance=GOV, block_number=99)
NATIVE = [b for b in bls.BACKENDS.values() if b.name != "py_ecc"]
REF = bls.BACKENDS["py_ecc"]


def test_native_backend_is_installed_and_the_default():
    assert NATIVE, "py-arkworks-bls12381 is pinned in pyproject.toml"
    assert bls.default_backend().name == "arkworks"


# --- keys and signatures against the reference ----------------------------------------------------------
def test_keygen_is_ietf_keygen_and_refuses_short_seeds():
    seed = keccak(text="seed")
    assert bls.keygen(seed) == Reference.KeyGen(seed)
    with pytest.raises(bls.BlsEncodingError):
        bls.keygen(b"short")


@pytest.mark.parametrize("backend", [*NATIVE, REF], ids=lambda b: b.name)
def test_public_key_signature_and_pop_are_byte_identical_to_py_ecc(backend):
    sk, msg = SKS[0], b"proposal digest"
    assert bls.public_key(sk, backend=backend) == Reference.SkToPk(sk)
    assert bls.sign(sk, msg, backend=backend) == bls.sign(sk, msg)  # native == this backend
    if backend is REF:
        assert bls.sign(sk, msg) == Reference.Sign(sk, msg)
        assert bls.prove_possession(sk) == Reference.PopProve(sk)


def test_aggregate_and_fast_aggregate_verify_agree_with_py_ecc():
    msg = b"m" * 32
    sigs = [bls.sign(sk, msg) for sk in SKS[:3]]
    agg = bls.aggregate(sigs)
    assert agg == Reference.Aggregate(sigs) == bls.aggregate(sigs, backend=REF)
    assert bls.fast_aggregate_verify(PKS[:3], msg, agg)
    assert bls.fast_aggregate_verify(PKS[:3], msg, agg, backend=REF)
    assert not bls.fast_aggregate_verify(PKS[:2], msg, agg)
    assert not bls.fast_aggregate_verify([], msg, agg)


@pytest.mark.parametrize("backend", NATIVE, ids=lambda b: b.name)
def test_verify_rejects_other_messages_keys_and_domains(backend):
    sig = bls.sign(SKS[0], b"a", backend=backend)
    assert bls.verify(PKS[0], b"a", sig, backend=backend)
    assert not bls.verify(PKS[0], b"b", sig, backend=backend)
    assert not bls.verify(PKS[1], b"a", sig, backend=backend)
    # a PoP is a signature under another DST: it never passes as a message signature, nor the reverse
    assert not bls.verify(PKS[0], PKS[0], bls.prove_possession(SKS[0], backend=backend), backend=backend)
    assert not bls.verify_possession(PKS[0], bls.sign(SKS[0], PKS[0], backend=backend), backend=backend)
    assert bls.verify_possession(PKS[0], bls.prove_possession(SKS[0], backend=backend), backend=backend)


def _off_subgroup_g1() -> bytes:
    """A point on E1 outside the r-order subgroup: map_to_curve output before cofactor clearing."""
    from py_ecc.bls.g2_primitives import G1_to_pubkey
    from py_ecc.bls.hash_to_curve import map_to_curve_G1
    from py_ecc.optimized_bls12_381 import FQ

    return bytes(G1_to_pubkey(map_to_curve_G1(FQ(5))))


@pytest.mark.parametrize("backend", [*NATIVE, REF], ids=lambda b: b.name)
def test_bad_points_are_encoding_errors_not_crashes(backend):
    sig = bls.sign(SKS[0], b"a")
    identity = b"\xc0" + b"\x00" * 47
    for pk in (b"", b"\x00" * 48, identity, _off_subgroup_g1(), PKS[0][:-1]):
        with pytest.raises(bls.BlsEncodingError):
            backend.verify(pk, b"a", sig, bls.SIG_DST)
    with pytest.raises(bls.BlsEncodingError):
        backend.verify(PKS[0], b"a", b"\x01" * 96, bls.SIG_DST)
    with pytest.raises(bls.BlsEncodingError):
        bls.public_key(0, backend=backend)


def test_coordinates_round_trip_in_both_backends():
    xy = bls.g1_xy(PKS[2])
    assert len(xy) == 96 and bls.g1_xy(PKS[2], backend=REF) == xy
    assert bls.g1_from_xy(xy) == bls.g1_from_xy(xy, backend=REF) == PKS[2]
    sig = bls.sign(SKS[2], b"x")
    assert bls.g2_xy(sig) == bls.g2_xy(sig, backend=REF)
    with pytest.raises(bls.BlsEncodingError):
        bls.g1_from_xy(b"\x01" * 96)


# --- quorum ----------------------------------------------------------------------------------------------
def _quorum(signers, msg=b"q" * 32, sks=SKS):
    return bls.aggregate([bls.sign(sks[i], msg) for i in signers]), bls.signer_bitmap(signers)


def test_three_of_five_meet_a_threshold_of_three():
    sig, bitmap = _quorum([0, 2, 4])
    bls.verify_quorum(b"q" * 32, sig, bitmap, members=PKS, threshold=3)


def test_k_minus_one_signers_are_refused():
    sig, bitmap = _quorum([0, 2])
    with pytest.raises(bls.QuorumNotMetError):
        bls.verify_quorum(b"q" * 32, sig, bitmap, members=PKS, threshold=3)


def test_a_non_member_signature_is_refused():
    sig, bitmap = _quorum([0, 1, 4], sks=[*SKS[:4], OUTSIDER])
    with pytest.raises(bls.SnapshotSignatureError):
        bls.verify_quorum(b"q" * 32, sig, bitmap, members=PKS, threshold=3)
    sig, _ = _quorum([0, 1, 2])
    with pytest.raises(bls.QuorumNotMetError):  # a bit beyond the member list
        bls.verify_quorum(b"q" * 32, sig, bls.signer_bitmap([0, 1, 5]), members=PKS, threshold=3)


def test_signer_bitmap_refuses_duplicates_and_out_of_range():
    assert bls.signer_bitmap([0, 3]) == 0b1001
    for bad in ([1, 1], [-1], [bls.MAX_MEMBERS]):
        with pytest.raises(bls.QuorumNotMetError):
            bls.signer_bitmap(bad)


# --- proposals -------------------------------------------------------------------------------------------
def test_proposal_digest_binds_chain_contract_nonce_action_and_payload():
    p = bls.Proposal.of(bls.Action.SUSPEND_ISSUER, GOV)
    base = bls.proposal_digest(p, chain_id=1, governance=GOV, nonce=0)
    variants = [
        bls.proposal_digest(p, chain_id=2, governance=GOV, nonce=0),
        bls.proposal_digest(p, chain_id=1, governance="0x" + "11" * 20, nonce=0),
        bls.proposal_digest(p, chain_id=1, governance=GOV, nonce=1),
        bls.proposal_digest(bls.Proposal(bls.Action.TRANSFER_REGISTRY_ADMIN, p.payload), chain_id=1, governance=GOV,
                            nonce=0),
        bls.proposal_digest(bls.Proposal.of(bls.Action.SUSPEND_ISSUER, "0x" + "22" * 20), chain_id=1, governance=GOV,
                            nonce=0),
    ]
    assert len({base, *variants}) == 6
    assert base != bls.snapshot_digest(p.payload, bls.SnapshotBinding(1, GOV, 0))


def test_proposal_arguments_round_trip_and_bad_arguments_are_malformed_input():
    p = bls.Proposal.of(bls.Action.ACCREDIT_ISSUER, GOV, "did:ethr:0x1:" + GOV, "Name", ["urn:x:1"])
    assert p.arguments() == (GOV.lower(), "did:ethr:0x1:" + GOV, "Name", ("urn:x:1",))
    with pytest.raises(MalformedInputError):
        bls.Proposal.of(bls.Action.SET_THRESHOLD, 300)
    with pytest.raises(MalformedInputError):
        bls.Proposal.of(bls.Action.SUSPEND_ISSUER, "not an address")
    with pytest.raises(MalformedInputError):
        bls.Proposal(bls.Action.ACCREDIT_ISSUER, b"\x01").arguments()
    add = bls.Proposal.add_member(PKS[1], bls.prove_possession(SKS[1]))
    assert add.arguments() == (bls.g1_xy(PKS[1]), bls.g2_xy(bls.prove_possession(SKS[1])))


# --- signed trust snapshots ------------------------------------------------------------------------------
CONTENT = b'{"block_number":99,"issuers":[{"id":"did:ethr:0x539:0xabc","keys":["kid1"]}]}'


def _signed(signers=(0, 1, 3), content=CONTENT, binding=BINDING) -> bytes:
    shares = [bls.sign_snapshot(SKS[i], content, binding) for i in signers]
    return bls.SignedSnapshot(content, binding, bls.signer_bitmap(signers), bls.aggregate(shares)).to_bytes()


def _check(data: bytes, threshold: int = 3) -> bls.SignedSnapshot:
    return bls.verify_signed_snapshot(data, members=PKS, threshold=threshold, chain_id=1337, governance=GOV)


def test_signed_snapshot_verifies_offline_and_returns_its_content():
    assert _check(_signed()).content == CONTENT


def test_snapshot_tampered_by_one_byte_is_refused():
    good = _signed()
    for i in range(len(good)):
        tampered = bytearray(good)
        tampered[i] ^= 0x01
        with pytest.raises(CredError):
            _check(bytes(tampered))
    for i in range(len(CONTENT)):  # re-encoded cleanly, so only the signature check can refuse it
        content = bytearray(CONTENT)
        content[i] ^= 0x01
        doc = bls.SignedSnapshot.from_bytes(good)
        forged = bls.SignedSnapshot(bytes(content), doc.binding, doc.signers, doc.signature).to_bytes()
        with pytest.raises(bls.SnapshotSignatureError):
            _check(forged)


def test_snapshot_for_another_chain_or_contract_or_with_too_few_signers_is_refused():
    with pytest.raises(bls.SnapshotSignatureError):
        _check(_signed(binding=bls.SnapshotBinding(1, GOV, 99)))
    with pytest.raises(bls.SnapshotSignatureError):
        _check(_signed(binding=bls.SnapshotBinding(1337, "0x" + "33" * 20, 99)))
    with pytest.raises(bls.QuorumNotMetError):
        _check(_signed(signers=(0, 1)))
    with pytest.raises(MalformedInputError):
        _check(b"not json")
