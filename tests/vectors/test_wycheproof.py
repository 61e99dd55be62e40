"""Wycheproof (C2SP, ../shared/vectors/wycheproof) through credcore's own verification path.

Every case gets an expected outcome; the rules, where ours differ from a general-purpose JOSE library:

- Only ES256, ES256K and EdDSA exist here (``credcore.keys.ALGORITHMS``). A case whose key or ``alg`` is
  HMAC, RSA, P-384/P-521 or AES is *refused* (a CredError code, normally ``unsupported_algorithm``), even
  when Wycheproof calls it valid: that is policy, not a failure to verify.
- ``credcore.jws`` carries JWT claims, so a payload that is not a JSON object is ``malformed_input``. Wycheproof's
  ES256 JWS cases sign the payload ``foo``; so that the payload rule cannot mask a signature bug, each of
  those cases is also run through the same strict steps minus that rule (strict base64url on every part,
  strict header JSON, alg allow-list, ``PublicKey.verify``), where valid must verify and invalid must not.
- A key set is imported all-or-nothing, as ``civicpass verify --issuer-jwk`` does.
- The raw ECDSA P-256/secp256k1 (IEEE P1363) and Ed25519 files go straight to ``PublicKey.verify``. None of
  them has an "acceptable" case today; if one appears, the test reports it rather than guessing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import SHARED_VECTORS

from credcore import jws
from credcore._b64 import b64u_decode
from credcore.errors import CredError
from credcore.keys import ALGORITHMS, PublicKey, parse_json_object, require_alg

DIR = SHARED_VECTORS / "wycheproof"
ALL_ALGS = frozenset(ALGORITHMS)
_OURS = {(s.kty, s.crv) for s in ALGORITHMS.values()}


def _load(name: str) -> dict[str, Any]:
    path = DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _group_jwks(group: dict[str, Any]) -> list[dict[str, Any]]:
    key = group.get("public") or group.get("private") or {}
    return list(key.get("keys", [key]))


def _ours(jwk: dict[str, Any]) -> bool:
    return (jwk.get("kty"), jwk.get("crv")) in _OURS


def _verify(token: Any, jwks: list[dict[str, Any]]) -> str:
    """``credcore.jws.verify`` under an imported key set: "verified" or the refusing error's code."""
    try:
        keys = [PublicKey.from_jwk(j) for j in jwks]
        last: CredError | None = None
        for key in keys:
            try:
                jws.verify(token, key, algorithms=ALL_ALGS)
                return "verified"
            except CredError as exc:
                last = exc
        return last.code if last else "no_key"
    except CredError as exc:
        return exc.code


def _signature_layer(token: str, key: PublicKey) -> bool:
    """``jws.parse`` + ``verify_with`` without the payload-is-JSON rule (see module docstring)."""
    try:
        head, payload, sig = token.split(".")
        b64u_decode(payload)
        alg = require_alg(parse_json_object(b64u_decode(head), "header").get("alg"), ALL_ALGS)
        return key.verify(b64u_decode(sig), f"{head}.{payload}".encode("ascii"), alg)
    except (CredError, ValueError):
        return False


def _payload_is_json_object(token: str) -> bool:
    try:
        parse_json_object(b64u_decode(token.split(".")[1]), "payload")
    except (CredError, IndexError):
        return False
    return True


JOSE_FILES = ["json_web_signature_test.json", "json_web_key_test.json", "json_web_crypto_test.json"]


@pytest.mark.parametrize("name", JOSE_FILES)
def test_jose_files(name: str) -> None:
    doc = _load(name)
    wrong: list[str] = []
    counted = 0
    for group in doc["testGroups"]:
        jwks = _group_jwks(group)
        for case in group["tests"]:
            if "jws" not in case:  # JWE cases of json_web_crypto: civicpass has no JWE
                continue
            counted += 1
            token, expected = case["jws"], case["result"]
            got = _verify(token, jwks)
            label = f"{case['tcId']} {case['comment']} ({group.get('comment')}): expected {expected}, got {got}"
            if not all(_ours(j) for j in jwks):
                if got == "verified" or (expected == "valid" and got not in {"unsupported_algorithm", "invalid_key"}):
                    wrong.append(label)
                continue
            if expected == "invalid" and got == "verified":
                wrong.append(label)
            payload_rule = got == "malformed_input" and isinstance(token, str) and not _payload_is_json_object(token)
            if expected == "valid" and got != "verified" and not payload_rule:
                wrong.append(label)
            if isinstance(token, str) and len(jwks) == 1 and got != "invalid_key":  # else refused at import
                layer = _signature_layer(token, PublicKey.from_jwk(jwks[0]))
                if layer != (expected == "valid"):
                    wrong.append(label + f"; signature layer says {layer}")
            assert expected != "acceptable", f"new acceptable case to document: {label}"
    assert counted == doc["numberOfTests"] - (17 * 2 if name == "json_web_crypto_test.json" else 0)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("name", "curve"),
    [
        ("ecdsa_secp256r1_sha256_p1363_test.json", "P-256"),
        ("ecdsa_secp256k1_sha256_p1363_test.json", "secp256k1"),
        ("ed25519_test.json", "Ed25519"),
    ],
)
def test_raw_signature_files(name: str, curve: str) -> None:
    doc = _load(name)
    wrong: list[str] = []
    acceptable: list[int] = []
    counted = 0
    for group in doc["testGroups"]:
        pk = group["publicKey"]
        raw = bytes.fromhex(pk["pk"] if curve == "Ed25519" else pk["uncompressed"])
        key = PublicKey.from_bytes(curve, raw)  # type: ignore[arg-type]
        if "publicKeyJwk" in group:
            assert PublicKey.from_jwk(group["publicKeyJwk"]) == key
        for case in group["tests"]:
            counted += 1
            ok = key.verify(bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
            if case["result"] == "acceptable":
                acceptable.append(case["tcId"])
            elif ok != (case["result"] == "valid"):
                wrong.append(f"{case['tcId']} {case['comment']}: expected {case['result']}, verify said {ok}")
    assert counted == doc["numberOfTests"]
    assert not wrong, "\n".join(wrong)
    assert not acceptable, f"acceptable cases to document: {acceptable}"
