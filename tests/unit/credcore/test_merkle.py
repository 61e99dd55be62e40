import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credcore.errors import MalformedInputError, NotFoundError
from credcore.merkle import (
    MultiProof,
    StandardMerkleTree,
    keccak256,
    leaf_hash,
    node_hash,
    process_multi_proof,
    process_proof,
    verify_multi_proof,
    verify_proof,
)

DIGESTS = [hashlib.sha256(bytes([i])).digest() for i in range(10)]


def test_keccak256_is_ethereum_keccak_not_sha3():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()


def test_fast_keccak_path_equals_the_public_api():
    from credcore.merkle import _fast_hasher

    fast = _fast_hasher()
    for n in (0, 1, 31, 32, 64, 135, 136, 137, 1000):
        data = bytes((i * 7 + n) % 256 for i in range(n))
        assert fast(data) == keccak256(data)


def test_leaf_is_double_hashed_abi_encoding():
    assert leaf_hash(DIGESTS[0]) == keccak256(keccak256(DIGESTS[0]))
    assert leaf_hash(["0x" + DIGESTS[0].hex()]) == leaf_hash(DIGESTS[0])


def test_node_hash_is_commutative():
    assert node_hash(DIGESTS[0], DIGESTS[1]) == node_hash(DIGESTS[1], DIGESTS[0])


def test_single_leaf_tree_root_is_the_leaf_and_proof_is_empty():
    tree = StandardMerkleTree.of([DIGESTS[0]])
    assert tree.root == leaf_hash(DIGESTS[0])
    assert tree.get_proof(0) == ()
    assert tree.verify(0, ())


def test_proof_by_value_equals_proof_by_index():
    tree = StandardMerkleTree.of(DIGESTS)
    assert tree.get_proof(DIGESTS[3]) == tree.get_proof(3)


def test_tampered_proof_or_leaf_fails():
    tree = StandardMerkleTree.of(DIGESTS)
    proof = tree.get_proof(4)
    assert verify_proof(tree.root, DIGESTS[4], proof)
    assert not verify_proof(tree.root, DIGESTS[5], proof)
    assert not verify_proof(tree.root, DIGESTS[4], (*proof[:-1], bytes(32)))


def test_internal_node_cannot_pass_as_leaf():
    tree = StandardMerkleTree.of(DIGESTS[:4])
    inner = process_proof(tree.leaf_hash(0), tree.get_proof(0)[:1])  # a depth-1 node
    assert not verify_proof(tree.root, inner, tree.get_proof(0)[1:])


def test_unknown_leaf_and_bad_index_raise_not_found():
    tree = StandardMerkleTree.of(DIGESTS[:3])
    with pytest.raises(NotFoundError):
        tree.get_proof(DIGESTS[9])
    with pytest.raises(NotFoundError):
        tree.get_proof(3)


@pytest.mark.parametrize("bad", [b"short", "0xzz", [DIGESTS[0], DIGESTS[1]], 7])
def test_malformed_values_are_refused(bad):
    with pytest.raises(MalformedInputError):
        StandardMerkleTree.of([bad])


def test_empty_tree_is_refused():
    with pytest.raises(MalformedInputError):
        StandardMerkleTree.of([])


def test_malformed_proof_node_is_refused():
    with pytest.raises(MalformedInputError):
        process_proof(DIGESTS[0], [b"\x00" * 31])


def test_multiproof_duplicate_index_is_refused():
    tree = StandardMerkleTree.of(DIGESTS)
    with pytest.raises(MalformedInputError):
        tree.get_multi_proof([1, 1])


def test_multiproof_with_incompatible_lengths_is_refused():
    with pytest.raises(MalformedInputError):
        process_multi_proof([DIGESTS[0]], [], [True])
    with pytest.raises(MalformedInputError):
        process_multi_proof([DIGESTS[0], DIGESTS[1]], [DIGESTS[2]], [False])


def test_empty_multiproof_carries_the_root():
    tree = StandardMerkleTree.of(DIGESTS)
    mp = tree.get_multi_proof([])
    assert mp.proof == (tree.root,) and tree.verify_multi_proof(mp)


def test_tampered_multiproof_fails():
    tree = StandardMerkleTree.of(DIGESTS)
    mp = tree.get_multi_proof([1, 5, 8])
    forged = MultiProof(((DIGESTS[2],), *mp.leaves[1:]), mp.proof, mp.proof_flags)
    assert not verify_multi_proof(tree.root, forged)


def test_dump_load_round_trip():
    tree = StandardMerkleTree.of(DIGESTS)
    loaded = StandardMerkleTree.load(tree.dump())
    assert loaded.root == tree.root and loaded.get_proof(7) == tree.get_proof(7)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="standard-v2"),
        lambda d: d["tree"].__setitem__(1, "0x" + "00" * 32),
        lambda d: d["values"][0].__setitem__("value", ["0x" + "11" * 32]),
        lambda d: d["values"][0].__setitem__("treeIndex", 0),
        lambda d: d.update(tree=d["tree"][:-1]),
        lambda d: d.update(leafEncoding=[]),
    ],
)
def test_load_refuses_inconsistent_dumps(mutate):
    dump = StandardMerkleTree.of(DIGESTS).dump()
    mutate(dump)
    with pytest.raises(MalformedInputError):
        StandardMerkleTree.load(dump)


def test_general_leaf_encoding_via_abi():
    values = [["0x1111111111111111111111111111111111111111", 5], ["0x2222222222222222222222222222222222222222", 7]]
    tree = StandardMerkleTree.of(values, ["address", "uint256"])
    assert tree.verify(1, tree.get_proof(1))
    with pytest.raises(MalformedInputError):
        StandardMerkleTree.of([["not an address", 5]], ["address", "uint256"])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_every_proof_and_any_multiproof_verifies(n, data):
    values = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(n)]
    tree = StandardMerkleTree.of(values)
    proofs = tree.all_proofs()
    assert proofs == [tree.get_proof(i) for i in range(n)]
    assert all(verify_proof(tree.root, values[i], proofs[i]) for i in range(n))
    subset = data.draw(st.lists(st.integers(0, n - 1), unique=True))
    assert tree.verify_multi_proof(tree.get_multi_proof(subset))
