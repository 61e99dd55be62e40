"""did:key against the W3C CCG did-method-key test vectors (../shared/vectors/did-key).

The documents use 2022-era key types, so keys are compared, not documents: for every vector of a curve we
accept, resolving the DID yields the vector's public key and encoding that key yields the same DID. Every
other key type (X25519, P-384, P-521, BLS12-381, RSA) must be refused with UnsupportedAlgorithmError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import SHARED_VECTORS

from credcore.did import _b58decode, did_key, resolve_did_key
from credcore.errors import UnsupportedAlgorithmError
from credcore.keys import PublicKey, SigningKey

DIR = SHARED_VECTORS / "did-key" / "test-vectors"
_BASE58_CURVES = {
    "Ed25519VerificationKey2018": "Ed25519",
    "EcdsaSecp256k1VerificationKey2019": "secp256k1",
    "P256Key2021": "P-256",
}


def _vectors() -> list[tuple[str, str, dict[str, Any]]]:
    if not DIR.is_dir():
        return []
    out = []
    for path in sorted(DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        if path.name == "x25519.json":  # {"didDocument": {did: document}}
            out += [(path.name, did, {}) for did in doc["didDocument"]]
        else:
            out += [(path.name, did, vector) for did, vector in doc.items()]
    return out


def _expected_key(vector: dict[str, Any]) -> tuple[PublicKey, Any] | None:
    """The vector's verification key and private key (if any), or None for a type we do not accept."""
    vm = vector.get("verificationKeyPair") or vector.get("verificationMethod") or {}
    if "publicKeyJwk" in vm and vm["publicKeyJwk"].get("crv") in {"P-256", "secp256k1", "Ed25519"}:
        return PublicKey.from_jwk(vm["publicKeyJwk"]), vm.get("privateKeyJwk")
    curve = _BASE58_CURVES.get(vm.get("type", ""))
    if curve is None:
        return None
    return PublicKey.from_bytes(curve, _b58decode(vm["publicKeyBase58"])), vm.get("privateKeyBase58"), curve


VECTORS = _vectors()


def test_vectors_are_present(shared_vectors: Path) -> None:
    assert len(VECTORS) >= 30


@pytest.mark.parametrize(("file", "did", "vector"), VECTORS, ids=[f"{f}:{d[8:24]}" for f, d, _ in VECTORS])
def test_did_key_vector(file: str, did: str, vector: dict[str, Any]) -> None:
    expected = _expected_key(vector)
    if expected is None:
        with pytest.raises(UnsupportedAlgorithmError):
            resolve_did_key(did)
        return
    key = expected[0]
    assert resolve_did_key(did) == key
    assert resolve_did_key(f"{did}#{did[8:]}") == key
    assert did_key(key) == did
    private = expected[1]
    if isinstance(private, dict):
        assert SigningKey.from_jwk(private).public_key == key
    elif isinstance(private, str):
        assert SigningKey.from_secret(expected[2], _b58decode(private)).public_key == key


def test_every_supported_curve_is_covered() -> None:
    curves = {resolve_did_key(did).curve for _, did, v in VECTORS if _expected_key(v) is not None}
    assert curves == {"P-256", "secp256k1", "Ed25519"}
