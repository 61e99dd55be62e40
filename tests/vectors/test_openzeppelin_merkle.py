"""credcore.merkle against @openzeppelin/merkle-tree itself: roots, proofs, multiproofs and dumps byte for byte.

The npm package (pinned in package.json) builds the same trees in node; any difference in leaf hashing,
sorting, tree layout or multiproof ordering shows up here. Skips without node, fails under CI.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from credcore.merkle import MultiProof, StandardMerkleTree, verify_multi_proof, verify_proof

SCRIPT = Path(__file__).with_name("openzeppelin_merkle.js")
SIZES = (1, 2, 3, 7, 100)


def _digest(i: int) -> bytes:
    return hashlib.sha256(b"credential-%d" % i).digest()


def _subsets(n: int, rng: random.Random) -> list[list[int]]:
    subsets = [[], [0], [n - 1], list(range(n))]
    subsets += [rng.sample(range(n), rng.randint(1, n)) for _ in range(4)]
    return subsets


def _cases() -> list[dict[str, Any]]:
    rng = random.Random(7)
    cases = [
        {"values": [["0x" + _digest(i).hex()] for i in range(n)], "encoding": ["bytes32"], "multi": _subsets(n, rng)}
        for n in SIZES
    ]
    # OZ README's airdrop example: a non-bytes32 encoding, through eth_abi
    airdrop = [
        ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
        ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
        ["0x3333333333333333333333333333333333333333", "1"],
    ]
    cases.append({"values": airdrop, "encoding": ["address", "uint256"], "multi": _subsets(3, rng)})
    return cases


@pytest.fixture(scope="module")
def oz(node_modules: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["node", str(SCRIPT)], input=json.dumps(_cases()), capture_output=True, text=True, check=True, timeout=60
    )
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


def _hex(nodes: tuple[bytes, ...]) -> list[str]:
    return ["0x" + n.hex() for n in nodes]


@pytest.mark.node
@pytest.mark.parametrize("case_no", range(len(SIZES) + 1))
def test_root_proofs_multiproofs_and_dump_match_openzeppelin(oz: list[dict[str, Any]], case_no: int) -> None:
    case, expected = _cases()[case_no], oz[case_no]
    tree = StandardMerkleTree.of(case["values"], case["encoding"])
    assert "0x" + tree.root.hex() == expected["root"]
    assert [_hex(tree.get_proof(i)) for i in range(len(tree))] == expected["proofs"]
    assert [_hex(p) for p in tree.all_proofs()] == expected["proofs"]
    for indices, theirs in zip(case["multi"], expected["multi"], strict=True):
        assert tree.get_multi_proof(indices).to_json() == theirs
    assert tree.dump() == expected["dump"]


@pytest.mark.node
@pytest.mark.parametrize("case_no", range(len(SIZES) + 1))
def test_openzeppelin_output_verifies_and_loads_here(oz: list[dict[str, Any]], case_no: int) -> None:
    case, expected = _cases()[case_no], oz[case_no]
    root = bytes.fromhex(expected["root"][2:])
    for value, proof in zip(case["values"], expected["proofs"], strict=True):
        assert verify_proof(root, value, [bytes.fromhex(p[2:]) for p in proof], case["encoding"])
    for theirs in expected["multi"]:
        mp = MultiProof(
            tuple(tuple(v) for v in theirs["leaves"]),
            tuple(bytes.fromhex(p[2:]) for p in theirs["proof"]),
            tuple(theirs["proofFlags"]),
        )
        assert verify_multi_proof(root, mp, case["encoding"])
    assert StandardMerkleTree.load(expected["dump"]).root == root
