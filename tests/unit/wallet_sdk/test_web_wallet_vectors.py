"""The browser wallet's CP1 code and credcore agree byte for byte, both ways, on shared vectors.

tests/vectors/cp1/cp1_web.json holds a credential credcore issued and presentations credcore made with fixed
keys. Here credcore checks the file still holds (every text verifies; the bytes are credcore's own), then
node runs wallet_sdk/web/tests/cp1_vectors.mjs, which checks the same bytes with the browser modules
(parse, digest, Sig_structure, holder input, presentation, Base45) and makes its own presentations, which
credcore must verify."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

from credcore import _cose
from credcore._b64 import b64u_decode
from credcore.cp1 import credential_digest, decode_cp1, verify_cp1
from credcore.keys import PublicKey
from credcore.qr import decode_qr_text
from credcore.status_list import StatusList
from credcore.trust import ANY_ISSUER, StatusListRecord, TrustSnapshot

VECTORS = ROOT / "tests" / "vectors" / "cp1" / "cp1_web.json"
SCRIPT = ROOT / "wallet_sdk" / "web" / "tests" / "cp1_vectors.mjs"


def _vectors() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS.read_text())
    return doc


def _trust(doc: dict[str, Any]) -> TrustSnapshot:
    valid = StatusListRecord(issuer_id=ANY_ISSUER, list_id=1, uri="cp1:vectors/1", status_list=StatusList.empty(64))
    return TrustSnapshot.from_issuer_jwks({ANY_ISSUER: [doc["issuer_public_jwk"]]}, status_lists=[valid])


def test_vectors_are_credcores_own_bytes() -> None:
    doc = _vectors()
    raw = b64u_decode(doc["credential_b64u"])
    assert credential_digest(raw).hex() == doc["credential"]["digest_hex"]
    for case in doc["cases"]:
        data = decode_qr_text(case["text"], "CP1:")
        assert data.hex() == case["presentation_hex"]
        assert _cose.holder_proof_input("CP1-holder-proof", credential_digest(raw), case["step"],
                                        case["nonce"]).hex() == case["holder_input_hex"]
        d = decode_cp1(case["text"])
        assert (d.kid.hex(), d.status_index, d.profile) == (doc["credential"]["kid8_hex"], 42, "resident-basic")
        result = verify_cp1(case["text"], trust=_trust(doc), now=case["now"], nonce=case["nonce"])
        assert result.verified, result.failures()


def test_holder_key_in_the_vectors_is_the_credentials() -> None:
    doc = _vectors()
    pub = {k: v for k, v in doc["holder_private_jwk"].items() if k != "d"}
    assert PublicKey.from_jwk(pub).to_bytes(compressed=True).hex() == doc["credential"]["holder_key_hex"]


def test_browser_code_matches_the_vectors_and_credcore_verifies_what_it_makes(node_modules: Path) -> None:
    run = subprocess.run(["node", str(SCRIPT), str(VECTORS)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout)["presentations"]
    doc = _vectors()
    assert len(made) == len(doc["cases"])
    for p in made:
        result = verify_cp1(p["text"], trust=_trust(doc), now=p["now"], nonce=p["nonce"])
        assert result.verified, result.failures()
        wrong_nonce = verify_cp1(p["text"], trust=_trust(doc), now=p["now"], nonce="other")
        assert not wrong_nonce.verified  # the check can fail: the browser's proof binds the nonce


def test_a_changed_vector_is_caught_by_the_browser_check(node_modules: Path, tmp_path: Path) -> None:
    doc = _vectors()
    doc["cases"][0]["holder_input_hex"] = doc["cases"][0]["holder_input_hex"][:-2] + "00"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    run = subprocess.run(["node", str(SCRIPT), str(bad)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         check=False)
    assert run.returncode != 0 and "holder input" in run.stderr


@pytest.fixture(autouse=True)
def _vectors_present() -> None:
    assert VECTORS.is_file()
