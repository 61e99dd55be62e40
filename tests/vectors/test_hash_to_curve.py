"""RFC 9380 hash-to-curve vectors (../shared/vectors/hash-to-curve) against every installed BLS backend.

BLS signatures are only as interoperable as their hash-to-curve: the native backend, py_ecc and the on-chain
Solidity version (tests/contracts/test_governance.py) must all land on the RFC's points for the RO suites.
Signatures agreeing across backends is checked in tests/unit/credcore/test_bls.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import SHARED_VECTORS

from credcore import bls

BACKENDS = list(bls.BACKENDS.values())


def _suite(name: str) -> dict[str, Any]:
    path = SHARED_VECTORS / "hash-to-curve" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return dict(json.loads(path.read_text()))


def _coords(text: str) -> list[int]:
    return [int(c, 16) for c in text.split(",")]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_g2_ro_vectors(backend):
    suite = _suite("BLS12381G2_XMD:SHA-256_SSWU_RO_")
    assert suite["ciphersuite"] == "BLS12381G2_XMD:SHA-256_SSWU_RO_"
    assert len(suite["vectors"]) >= 5
    for v in suite["vectors"]:
        point = backend.hash_to_g2(v["msg"].encode(), suite["dst"].encode())
        xy = bls.g2_xy(point)
        got = [int.from_bytes(xy[i : i + 48], "big") for i in range(0, 192, 48)]
        assert got == _coords(v["P"]["x"]) + _coords(v["P"]["y"]), v["msg"]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_g1_ro_vectors(backend):
    suite = _suite("BLS12381G1_XMD:SHA-256_SSWU_RO_")
    assert len(suite["vectors"]) >= 5
    for v in suite["vectors"]:
        xy = bls.g1_xy(backend.hash_to_g1(v["msg"].encode(), suite["dst"].encode()))
        assert [int.from_bytes(xy[:48], "big"), int.from_bytes(xy[48:], "big")] == (
            _coords(v["P"]["x"]) + _coords(v["P"]["y"])
        ), v["msg"]


def test_backends_agree_on_signatures_over_the_vector_messages():
    suite = _suite("BLS12381G2_XMD:SHA-256_SSWU_RO_")
    native = [b for b in BACKENDS if b.name != "py_ecc"]
    if not native:
        pytest.skip("no native backend installed")
    sk = bls.keygen(b"\x42" * 32)
    msg = suite["vectors"][1]["msg"].encode()
    sigs = {b.name: bls.sign(sk, msg, backend=b) for b in BACKENDS}
    assert len(set(sigs.values())) == 1, sigs
