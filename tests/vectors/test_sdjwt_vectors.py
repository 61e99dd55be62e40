"""Independent check: every published SD-JWT case in ../shared/vectors/sdjwt verifies to its expected claims.

The cases come from sd-jwt-python's testcases and the IETF SD-JWT and SD-JWT VC drafts (see the vectors'
README). Their issuer JWTs lack civicpass's ``kid``/``vct``/``typ``, so they go through the plain RFC 9901
verifier ``verify_sd_jwt``; the clock is the KB-JWT's ``iat`` (the vectors were generated on 2026-11-22).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credcore._b64 import b64u_decode, b64u_encode
from credcore.keys import PublicKey, SigningKey
from credcore.sdjwt import unsafe_decode, verify_sd_jwt, verify_sd_jwt_vc
from credcore.trust import ANY_ISSUER, ANY_TYPE, IssuerKey, TrustedIssuer, TrustSnapshot
from credcore.verification import Code

# Same place as tests/conftest.py:SHARED_VECTORS; computed here because cases are listed at collection time and
# `from conftest import ...` is ambiguous once several conftest.py files exist.
SHARED_VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
ROOT = SHARED_VECTORS / "sdjwt"
VECTORS_PRESENT = (ROOT / "manifest.json").is_file()
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text()) if VECTORS_PRESENT else {"cases": []}
CASES = [pytest.param(c, id=f"{c['group']}/{c['name']}") for c in MANIFEST["cases"]]


def _trust() -> TrustSnapshot:
    keys = [jwk for name, jwk in MANIFEST["keys"].items() if name.startswith("issuer_")]
    return TrustSnapshot.from_issuer_jwks({ANY_ISSUER: keys})


def _presentation(case_dir: Path, case: dict[str, Any]) -> str:
    if case["serialization"] == "json":
        text = json.loads((case_dir / "sd_jwt_presentation.json").read_text())
        assert isinstance(text, str)  # the file holds the JSON serialization as one JSON string
        return text
    return (case_dir / "sd_jwt_presentation.txt").read_text().strip()


def _binding(case_dir: Path, case: dict[str, Any]) -> dict[str, Any]:
    if not case["key_binding"]:
        return {"now": 1_795_000_000, "nonce": None, "audience": None}
    kb = json.loads((case_dir / "kb_jwt_payload.json").read_text())
    audience = MANIFEST["key_binding"]["aud"][case["group"]]
    return {"now": kb["iat"], "nonce": MANIFEST["key_binding"]["nonce"], "audience": audience}


def test_manifest_lists_all_35_cases(shared_vectors: Path) -> None:
    assert shared_vectors.resolve() == SHARED_VECTORS.resolve()
    assert len(MANIFEST["cases"]) == 35
    assert {c["group"] for c in MANIFEST["cases"]} == {
        "sd-jwt-python-testcases", "ietf-sd-jwt-examples", "ietf-sd-jwt-vc-examples",
    }


@pytest.mark.parametrize("case", CASES)
def test_vector_verifies_to_expected_claims(case: dict[str, Any], shared_vectors: Path) -> None:
    case_dir = ROOT / case["group"] / case["name"]
    text = _presentation(case_dir, case)
    result = verify_sd_jwt(text, trust=_trust(), **_binding(case_dir, case))
    assert result.verified, result.to_json()["checks"]
    expected = json.loads((case_dir / "verified_contents.json").read_text())
    assert result.claims == expected
    checks = [o.check for o in result.outcomes]
    assert ("holder_binding" in checks) == case["key_binding"]


@pytest.mark.parametrize("case", [c for c in CASES if c.values[0]["key_binding"]])
def test_vector_with_wrong_nonce_fails_holder_binding(case: dict[str, Any], shared_vectors: Path) -> None:
    case_dir = ROOT / case["group"] / case["name"]
    binding = {**_binding(case_dir, case), "nonce": "other-nonce"}
    result = verify_sd_jwt(_presentation(case_dir, case), trust=_trust(), **binding)
    assert result.code == Code.NONCE_MISMATCH


@pytest.mark.parametrize("case", [c for c in CASES if c.values[0]["key_binding"]])
def test_vector_kb_jwt_is_stale_a_day_later(case: dict[str, Any], shared_vectors: Path) -> None:
    case_dir = ROOT / case["group"] / case["name"]
    binding = _binding(case_dir, case)
    binding["now"] += 86_400
    assert verify_sd_jwt(_presentation(case_dir, case), trust=_trust(), **binding).code == Code.PROOF_NOT_FRESH


def test_vector_issuance_decodes_to_the_published_payload(shared_vectors: Path) -> None:
    for case in MANIFEST["cases"]:
        case_dir = ROOT / case["group"] / case["name"]
        if case["serialization"] != "compact":
            continue
        decoded = unsafe_decode((case_dir / "sd_jwt_issuance.txt").read_text().strip())
        assert decoded["payload"] == json.loads((case_dir / "sd_jwt_payload.json").read_text()), case["name"]


def test_vector_under_an_unknown_issuer_key_fails_signature(shared_vectors: Path) -> None:
    case_dir = ROOT / "sd-jwt-python-testcases" / "key_binding"
    case = next(c for c in MANIFEST["cases"] if c["name"] == "key_binding")
    other = TrustSnapshot.from_issuer_jwks({ANY_ISSUER: [SigningKey.generate().public_key.to_jwk()]})
    assert verify_sd_jwt(_presentation(case_dir, case), trust=other, **_binding(case_dir, case)).code == (
        Code.SIGNATURE_INVALID
    )


def test_vector_with_a_tampered_disclosure_is_unreferenced(shared_vectors: Path) -> None:
    case_dir = ROOT / "ietf-sd-jwt-examples" / "simple_structured"
    jwt, *disclosures, kb = (case_dir / "sd_jwt_presentation.txt").read_text().strip().split("~")
    salt, name, value = json.loads(b64u_decode(disclosures[0]))
    forged = b64u_encode(json.dumps([salt, name, value + "!"]).encode())
    text = "~".join([jwt, forged, *disclosures[1:], kb])
    assert verify_sd_jwt(text, trust=_trust(), now=1_795_000_000, nonce=None, audience=None).code == (
        Code.UNREFERENCED_DISCLOSURE
    )


def test_sd_jwt_vc_vectors_pass_the_strict_profile_when_they_carry_no_kid(shared_vectors: Path) -> None:
    # 02 and 03-pid have typ dc+sd-jwt, vct and no kid: the strict VC verifier tries the issuer's keys.
    for name in ("02", "03-pid"):
        case = next(c for c in MANIFEST["cases"] if c["group"] == "ietf-sd-jwt-vc-examples" and c["name"] == name)
        case_dir = ROOT / case["group"] / name
        result = verify_sd_jwt_vc(_presentation(case_dir, case), trust=_trust(), **_binding(case_dir, case))
        assert result.verified, (name, result.to_json()["checks"])


def test_sd_jwt_vc_vector_with_a_non_thumbprint_kid_under_the_strict_profile(shared_vectors: Path) -> None:
    # 01's kid is "doc-signer-05-25-2022". Its issuer key given as a JWK without kid answers to any kid (as JOSE
    # libraries match); given with another kid, or registered as civicpass registers keys (by thumbprint), not.
    case = next(c for c in MANIFEST["cases"] if c["group"] == "ietf-sd-jwt-vc-examples" and c["name"] == "01")
    case_dir = ROOT / case["group"] / "01"
    text, binding = _presentation(case_dir, case), _binding(case_dir, case)
    assert verify_sd_jwt_vc(text, trust=_trust(), **binding).verified
    keys = [jwk for name, jwk in MANIFEST["keys"].items() if name.startswith("issuer_")]
    named = TrustSnapshot.from_issuer_jwks({ANY_ISSUER: [{**k, "kid": "doc-signer-05-25-2022"} for k in keys]})
    assert verify_sd_jwt_vc(text, trust=named, **binding).verified
    other = TrustSnapshot.from_issuer_jwks({ANY_ISSUER: [{**k, "kid": "another-key"} for k in keys]})
    assert verify_sd_jwt_vc(text, trust=other, **binding).code == Code.UNKNOWN_KEY
    registered = TrustSnapshot(issuers=(TrustedIssuer(ANY_ISSUER, "x", frozenset({ANY_TYPE}),
                                                      tuple(IssuerKey(PublicKey.from_jwk(k)) for k in keys)),))
    assert verify_sd_jwt_vc(text, trust=registered, **binding).code == Code.UNKNOWN_KEY


def test_generic_sd_jwt_vector_fails_the_strict_vc_profile_on_typ(shared_vectors: Path) -> None:
    case = next(c for c in MANIFEST["cases"] if c["name"] == "key_binding")
    case_dir = ROOT / case["group"] / case["name"]
    result = verify_sd_jwt_vc(_presentation(case_dir, case), trust=_trust(), **_binding(case_dir, case))
    assert result.code == Code.WRONG_TYPE
