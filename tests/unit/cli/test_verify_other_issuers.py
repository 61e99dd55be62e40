"""``civicpass verify`` on other issuers' credentials: all 35 shared SD-JWT vectors, kid-less JWKs, plain RFC 9901.

The vectors (../shared/vectors/sdjwt, see its README) are given exactly as an integrator would: the
presentation in a file, the issuer's public keys as a JWKS file (they carry no ``kid``), the nonce and
audience from the manifest, and ``--at`` the KB-JWT's ``iat`` (the vectors were made on 2026-11-22).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import FIXED_NOW
from vectors.test_sdjwt_vectors import CASES, MANIFEST, ROOT, _binding, _presentation

from civicpass.cli import main
from credcore._b64 import b64u_decode
from credcore.keys import SigningKey

VC_01 = ROOT / "ietf-sd-jwt-vc-examples" / "01"


def _keys_file(tmp_path: Path, keys: list[dict[str, Any]]) -> Path:
    path = tmp_path / "issuer.jwks"
    path.write_text(json.dumps({"keys": keys}))
    return path


def _issuer_keys() -> list[dict[str, Any]]:
    return [jwk for name, jwk in MANIFEST["keys"].items() if name.startswith("issuer_")]


def _verify(capsys, *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["verify", "--json", *args])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out else {}), out.err


def _case_args(tmp_path: Path, case: dict[str, Any]) -> list[str]:
    case_dir = ROOT / case["group"] / case["name"]
    text = tmp_path / "presentation.txt"
    text.write_text(_presentation(case_dir, case))
    binding = _binding(case_dir, case)
    args = [str(text), "--issuer-jwk", str(_keys_file(tmp_path, _issuer_keys())), "--at", str(binding["now"])]
    if binding["nonce"] is not None:
        args += ["--nonce", binding["nonce"], "--aud", binding["audience"]]
    return args


@pytest.mark.parametrize("case", CASES)
def test_every_shared_vector_verifies_through_the_cli(capsys, tmp_path, case, shared_vectors):
    code, doc, err = _verify(capsys, *_case_args(tmp_path, case))
    assert (code, err) == (0, ""), doc.get("checks")
    expected = json.loads((ROOT / case["group"] / case["name"] / "verified_contents.json").read_text())
    assert doc["verified"] is True and doc["claims"] == expected
    # The format checked follows the issuer JWT's typ: only dc+sd-jwt is held to the SD-JWT VC profile.
    head = json.loads(b64u_decode(_presentation(ROOT / case["group"] / case["name"], case).split(".")[0])) if (
        case["serialization"] == "compact") else {}
    assert doc["format"] == ("sd-jwt-vc" if head.get("typ") == "dc+sd-jwt" else "sd-jwt")


def test_human_output_names_the_format(capsys, tmp_path, shared_vectors):
    plain = next(c.values[0] for c in CASES if c.values[0]["name"] == "key_binding")
    assert main(["verify", *_case_args(tmp_path, plain)]) == 0
    assert "format: sd-jwt (plain RFC 9901)" in capsys.readouterr().out
    vc = next(c.values[0] for c in CASES if c.values[0]["group"] == "ietf-sd-jwt-vc-examples")
    assert main(["verify", *_case_args(tmp_path, vc)]) == 0
    assert "format: sd-jwt-vc (SD-JWT VC, typ dc+sd-jwt)" in capsys.readouterr().out


def test_ietf_sd_jwt_vc_example_01_with_its_issuer_key_without_kid(capsys, tmp_path, shared_vectors):
    # The case: a header kid that is no thumbprint, and the issuer's public JWK without a kid.
    case = next(c.values[0] for c in CASES if c.values[0]["group"] == "ietf-sd-jwt-vc-examples"
                and c.values[0]["name"] == "01")
    head = (VC_01 / "sd_jwt_presentation.txt").read_text().split(".")[0]
    assert json.loads(b64u_decode(head))["kid"] == "doc-signer-05-25-2022"
    assert all("kid" not in k for k in _issuer_keys())
    code, doc, _ = _verify(capsys, *_case_args(tmp_path, case))
    assert code == 0 and doc["format"] == "sd-jwt-vc" and doc["verified"] is True


def test_a_jwk_with_another_kid_does_not_match(capsys, tmp_path, shared_vectors):
    case = next(c.values[0] for c in CASES if c.values[0]["group"] == "ietf-sd-jwt-vc-examples"
                and c.values[0]["name"] == "01")
    args = _case_args(tmp_path, case)
    keys = [{**k, "kid": "some-other-key"} for k in _issuer_keys()]
    args[args.index("--issuer-jwk") + 1] = str(_keys_file(tmp_path, keys))
    code, doc, _ = _verify(capsys, *args)
    assert code == 1 and doc["code"] == "unknown_key"


def _their_sd_jwt(tmp_path: Path, issuer: SigningKey, header: dict[str, str], claims: dict[str, Any]) -> Path:
    """An SD-JWT issued by the OpenWallet Foundation's sd-jwt library (another issuer's software)."""
    from jwcrypto.jwk import JWK
    from sd_jwt.common import SDObj
    from sd_jwt.issuer import SDJWTIssuer

    sd = {k if k in ("iss", "iat", "vct") else SDObj(k): v for k, v in claims.items()}
    token = SDJWTIssuer(sd, JWK.from_json(json.dumps(issuer.to_jwk())), extra_header_parameters=header).sd_jwt_issuance
    path = tmp_path / "their.sd-jwt"
    path.write_text(token)
    return path


def test_a_jwk_with_the_header_kid_matches_one_with_another_kid_does_not(capsys, tmp_path):
    issuer = SigningKey.generate()
    claims = {"vct": "urn:example:Badge", "iss": "https://issuer.example", "iat": FIXED_NOW, "level": 3}
    text = _their_sd_jwt(tmp_path, issuer, {"typ": "dc+sd-jwt", "kid": "key-2026"}, claims)
    for kid, expected in (("key-2026", 0), ("key-2025", 1), (None, 0)):
        jwk = issuer.public_key.to_jwk() | ({"kid": kid} if kid else {})
        code, doc, _ = _verify(capsys, str(text), "--issuer-jwk", str(_keys_file(tmp_path, [jwk])),
                               "--at", str(FIXED_NOW))
        assert (code, doc["format"]) == (expected, "sd-jwt-vc"), (kid, doc)
        assert doc["verified"] is (expected == 0) and (expected == 0 or doc["code"] == "unknown_key")


def test_plain_sd_jwt_verifies_and_under_another_key_does_not(capsys, tmp_path):
    issuer = SigningKey.generate()
    # typ other than dc+sd-jwt and no vct: plain RFC 9901, which the strict VC profile would refuse on typ.
    text = _their_sd_jwt(tmp_path, issuer, {"typ": "example+sd-jwt"}, {"iss": "https://x.example",
                                                                         "given_name": "Ada", "age": 36})
    keys = str(_keys_file(tmp_path, [issuer.public_key.to_jwk()]))
    code, doc, _ = _verify(capsys, str(text), "--issuer-jwk", keys, "--at", str(FIXED_NOW))
    assert (code, doc["format"], doc["claims"]["given_name"], doc["claims"]["age"]) == (0, "sd-jwt", "Ada", 36)
    other = str(_keys_file(tmp_path, [SigningKey.generate().public_key.to_jwk()]))
    code, doc, _ = _verify(capsys, str(text), "--issuer-jwk", other, "--at", str(FIXED_NOW))
    assert (code, doc["format"], doc["code"]) == (1, "sd-jwt", "signature_invalid")
