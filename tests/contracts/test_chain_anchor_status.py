"""AnchorRegistry and StatusRegistry behaviour: who may write, immutable roots, proofs, monotonic versions."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from contracts import status_list_digest
from contracts.errors import (
    InvalidRegistryArgumentError,
    IssuerNotActiveError,
    RootAlreadyAnchoredError,
    StaleStatusVersionError,
)
from credcore.errors import MalformedInputError
from credcore.merkle import StandardMerkleTree

pytestmark = pytest.mark.chain

URI = "https://issuer.civicpass.example/status-lists/1"


def digests(n: int, tag: bytes = b"") -> list[bytes]:
    return [hashlib.sha256(tag + i.to_bytes(4, "big")).digest() for i in range(n)]


# --- anchors ---------------------------------------------------------------------------------------------
def test_anchor_records_issuer_count_time_and_block(chain, deployed):
    _, anchors, _ = deployed
    tree = StandardMerkleTree.of(digests(5))
    rx = anchors.anchor(tree.root, 5, sender=chain.issuer).wait()
    record = anchors.anchor_of(tree.root)
    assert record is not None
    assert (record.issuer, record.count, record.block_number) == (chain.issuer.address, 5, rx.block_number)
    assert record.timestamp == chain.w3.eth.get_block(rx.block_number)["timestamp"]
    assert anchors.anchors() == [record]
    assert anchors.anchors(issuer=chain.issuer2.address) == []
    assert anchors.anchor_of(b"\x07" * 32) is None


def test_inclusion_proofs_verify_only_against_anchored_roots(chain, deployed):
    _, anchors, _ = deployed
    values = digests(9)
    tree = StandardMerkleTree.of(values)
    assert not anchors.verify_inclusion(tree.root, values[3], tree.get_proof(3))  # not anchored yet
    anchors.anchor(tree.root, len(values), sender=chain.issuer).wait()
    assert all(anchors.verify_inclusion(tree.root, v, tree.get_proof(i)) for i, v in enumerate(values))
    assert not anchors.verify_inclusion(tree.root, b"\x00" * 32, tree.get_proof(3))
    assert not anchors.verify_inclusion(tree.root, values[4], tree.get_proof(3))
    single = StandardMerkleTree.of(digests(1, b"single"))
    anchors.anchor(single.root, 1, sender=chain.issuer).wait()
    assert anchors.verify_inclusion(single.root, digests(1, b"single")[0], [])
    assert not anchors.verify_inclusion(bytes(32), values[0], [])


def test_an_inner_node_cannot_pass_as_a_leaf(chain, deployed):
    # Leaves are double-hashed, so the two children of the root, concatenated, are not a valid leaf value.
    _, anchors, _ = deployed
    values = digests(4)
    tree = StandardMerkleTree.of(values)
    anchors.anchor(tree.root, 4, sender=chain.issuer).wait()
    proof = tree.get_proof(0)
    assert not anchors.verify_inclusion(tree.root, proof[-1], [])


def test_anchor_refusals(chain, deployed):
    trust, anchors, _ = deployed
    root = StandardMerkleTree.of(digests(3)).root
    with pytest.raises(IssuerNotActiveError):
        anchors.anchor(root, 3, sender=chain.outsider)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(anchors, "anchor", [bytes(32), 3], chain.issuer)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(anchors, "anchor", [root, 0], chain.issuer)
    anchors.anchor(root, 3, sender=chain.issuer).wait()
    with pytest.raises(RootAlreadyAnchoredError):
        chain.raw(anchors, "anchor", [root, 4], chain.issuer)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    with pytest.raises(IssuerNotActiveError):
        anchors.anchor(b"\x05" * 32, 3, sender=chain.issuer)


def test_facade_refuses_bad_anchor_arguments(chain, deployed):
    _, anchors, _ = deployed
    for root, count in ((b"\x01" * 31, 1), (bytes(32), 1), (b"\x01" * 32, 0), (b"\x01" * 32, 2**64)):
        with pytest.raises(InvalidRegistryArgumentError):
            anchors.anchor(root, count, sender=chain.issuer)


@pytest.fixture(scope="module")
def oz_tree(node_modules: Path) -> tuple[list[bytes], bytes, list[list[bytes]]]:
    """A tree built by @openzeppelin/merkle-tree itself: values, root and proofs."""
    values = digests(7, b"oz")
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const v = JSON.parse(process.argv[1]).map((x) => [x]);"
        "const t = StandardMerkleTree.of(v, ['bytes32']);"
        "console.log(JSON.stringify({root: t.root, proofs: v.map((_, i) => t.getProof(i))}));"
    )
    arg = json.dumps(["0x" + v.hex() for v in values])
    cmd = ["node", "-e", script, arg]
    out = subprocess.run(cmd, cwd=node_modules.parent, capture_output=True, check=True, text=True)
    oz = json.loads(out.stdout)
    proofs = [[bytes.fromhex(p[2:]) for p in proof] for proof in oz["proofs"]]
    return values, bytes.fromhex(oz["root"][2:]), proofs


def test_openzeppelin_merkle_tree_proofs_verify_on_chain(chain, deployed, oz_tree):
    # Interop with the reference implementation, independent of credcore.merkle.
    _, anchors, _ = deployed
    values, root, proofs = oz_tree
    anchors.anchor(root, len(values), sender=chain.issuer).wait()
    assert all(anchors.verify_inclusion(root, v, p) for v, p in zip(values, proofs, strict=True))


# --- status lists ----------------------------------------------------------------------------------------
def test_status_versions_only_go_up(chain, deployed):
    _, _, statuses = deployed
    assert statuses.latest(chain.issuer.address, 1) is None
    d1, d2 = status_list_digest("header.payload.sig1"), status_list_digest("header.payload.sig2")
    statuses.publish(1, 1, d1, URI, sender=chain.issuer).wait()
    statuses.publish(1, 5, d2, URI, sender=chain.issuer).wait()
    head = statuses.latest(chain.issuer.address, 1)
    assert head is not None and (head.digest, head.version) == (d2, 5) and head.updated_at > 0
    with pytest.raises(StaleStatusVersionError):
        statuses.publish(1, 5, d1, URI, sender=chain.issuer)
    with pytest.raises(StaleStatusVersionError):
        chain.raw(statuses, "publish", [1, 4, d1, URI], chain.issuer)
    statuses.publish(2, 1, d1, URI[:-1] + "2", sender=chain.issuer).wait()  # lists are independent
    assert statuses.latest(chain.issuer.address, 2) is not None


def test_status_refusals(chain, deployed):
    trust, _, statuses = deployed
    digest = status_list_digest("a.b.c")
    with pytest.raises(IssuerNotActiveError):
        statuses.publish(1, 1, digest, URI, sender=chain.outsider)
    with pytest.raises(StaleStatusVersionError):
        chain.raw(statuses, "publish", [1, 0, digest, URI], chain.issuer)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(statuses, "publish", [1, 1, bytes(32), URI], chain.issuer)
    for uri in ("", "u" * 513):
        with pytest.raises(InvalidRegistryArgumentError):
            chain.raw(statuses, "publish", [1, 1, digest, uri], chain.issuer)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    with pytest.raises(IssuerNotActiveError):
        statuses.publish(1, 1, digest, URI, sender=chain.issuer)


def test_facade_refuses_bad_status_arguments(chain, deployed):
    _, _, statuses = deployed
    good = status_list_digest("a.b.c")
    for args in ((-1, 1, good, URI), (1, 2**64, good, URI), (1, 1, bytes(32), URI), (1, 1, good[:31], URI),
                 (1, 1, good, ""), (1, 1, good, "u" * 513)):
        with pytest.raises(InvalidRegistryArgumentError):
            statuses.publish(*args, sender=chain.issuer)
    with pytest.raises(MalformedInputError):
        status_list_digest("nön-ascii")
