"""``civicpass inspect`` / ``civicpass verify``: formats, verdicts and exit codes (0 / 1 / 2, never a traceback).

Most cases call ``civicpass.cli.main`` in process (fast); the bad-input cases run the real entry point in a
subprocess, because "one line on stderr, no traceback" is about what a shell user sees.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import FIXED_NOW

from civicpass.cli import main
from credcore import jws
from credcore.keys import SigningKey
from credcore.status_list import Status, StatusList, sign_status_list_jwt

ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
OTHER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(3, 35)))
LIST_URI = "https://issuer.example/status-lists/7"
AT = "2026-11-19T12:00:00Z"  # a little after FIXED_NOW
LIST = StatusList.empty(16).set(3, Status.INVALID).set(4, Status.SUSPENDED)


def _status_jwt(exp: int = FIXED_NOW + 86_400 * 30) -> str:
    return sign_status_list_jwt(LIST, uri=LIST_URI, signer=ISSUER, iat=FIXED_NOW - 60, exp=exp, ttl=300)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "jwk": tmp_path / "issuer.jwk",
        "jwks": tmp_path / "issuers.jwks",
        "other": tmp_path / "other.jwk",
        "list": tmp_path / "list.jwt",
    }
    out["jwk"].write_text(json.dumps(ISSUER.public_key.to_jwk()))
    out["jwks"].write_text(json.dumps({"keys": [OTHER.public_key.to_jwk(), ISSUER.public_key.to_jwk()]}))
    out["other"].write_text(json.dumps(OTHER.public_key.to_jwk()))
    out["list"].write_text(_status_jwt())
    return out


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _shell(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "civicpass", *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def _one_line_error(proc: subprocess.CompletedProcess[bytes], code: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith(f"civicpass: {code}:"), err
    assert "Traceback" not in err and proc.stdout == b""


# --- status list JWT and plain JWS -------------------------------------------------------------------
def test_inspect_status_list_jwt(capsys, files):
    code, out, _ = _cli(capsys, "inspect", str(files["list"]))
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "statuslist+jwt" and doc["verified"] is False
    assert doc["uri"] == LIST_URI and doc["header"]["kid"] == ISSUER.public_key.thumbprint()
    assert doc["status_list"]["counts"] == {"VALID": 14, "INVALID": 1, "SUSPENDED": 1}
    assert doc["status_list"]["not_valid"] == [[3, "INVALID"], [4, "SUSPENDED"]]


def test_verify_status_list_with_issuer_key(capsys, files):
    code, out, _ = _cli(capsys, "verify", str(files["list"]), "--issuer-jwk", str(files["jwks"]), "--at", AT)
    assert code == 0 and out.startswith("VERIFIED") and LIST_URI in out


def test_verify_status_list_with_wrong_key_is_not_verified(capsys, files):
    code, out, _ = _cli(capsys, "verify", str(files["list"]), "--issuer-jwk", str(files["other"]), "--at", AT, "--json")
    assert code == 1 and json.loads(out)["code"] == "signature_invalid"


def test_verify_expired_status_list_is_not_verified(capsys, files):
    files["list"].write_text(_status_jwt(exp=FIXED_NOW + 60))
    code, out, _ = _cli(capsys, "verify", str(files["list"]), "--issuer-jwk", str(files["jwk"]), "--at", AT)
    assert code == 1 and "status_list_expired" in out


def test_verify_plain_jws_from_stdin(capsys, files, monkeypatch):
    token = jws.sign({"hello": "city"}, ISSUER)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(token.encode())))
    code, out, _ = _cli(capsys, "verify", "-", "--issuer-jwk", str(files["jwk"]), "--json")
    assert code == 0 and json.loads(out)["payload"] == {"hello": "city"}


def test_inspect_reads_a_qr_image(capsys, tmp_path):
    from wallet_sdk.qr import render_png

    token = jws.sign({"n": 1}, ISSUER)
    image = tmp_path / "qr.png"
    image.write_bytes(render_png(token))
    code, out, _ = _cli(capsys, "inspect", str(image))
    assert code == 0 and json.loads(out)["payload"] == {"n": 1}


def test_bad_at_time_is_exit_2(capsys, files):
    code, _, err = _cli(capsys, "verify", str(files["list"]), "--issuer-jwk", str(files["jwk"]), "--at", "noon")
    assert code == 2 and err.startswith("civicpass: malformed_input:")


def test_missing_jwk_file_is_exit_2(capsys, files, tmp_path):
    code, _, err = _cli(capsys, "verify", str(files["list"]), "--issuer-jwk", str(tmp_path / "nope.jwk"))
    assert code == 2 and err.startswith("civicpass: cannot read input")


# --- bad input, through the real entry point -----------------------------------------------------------
def test_garbage_text_is_exit_2_one_line():
    _one_line_error(_shell("inspect", "this is not a credential"), "malformed_input")


def test_garbage_jws_is_exit_2_one_line():
    _one_line_error(_shell("verify", "a.b.c"), "malformed_input")


def test_oversized_input_is_exit_2_one_line(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.truncate(16 * 1024 * 1024 + 10)
    _one_line_error(_shell("inspect", str(big)), "payload_too_large")
    _one_line_error(_shell("verify", "-", stdin=b"CP1:" + b"A" * (2 * 1024 * 1024)), "payload_too_large")


def test_non_image_binary_is_exit_2_one_line(tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(4096) + b"\x00\xff")
    _one_line_error(_shell("inspect", str(blob)), "malformed_input")


def test_image_without_qr_is_exit_2_one_line(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (320, 240), 255).save(blank)
    proc = _shell("verify", str(blank))
    _one_line_error(proc, "malformed_input")
    assert b"no QR code" in proc.stderr


def test_broken_png_is_exit_2_one_line(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    _one_line_error(_shell("inspect", str(broken)), "malformed_input")


# --- SD-JWT VC and CP1 presentations -----------------------------------------------------------------
class _Salts:
    def __init__(self) -> None:
        self.n = 0

    def salt(self) -> str:
        self.n += 1
        return f"salt-{self.n:04d}-abcdefghijklmnop"


def _sd_jwt_presentation(index: int, nonce: str = "n-123") -> str:
    from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt

    issued = issue_sd_jwt_vc(
        {"given_name": "Minji", "district": "Haeundae", "age_over_19": True},
        vct="urn:civicpass:ResidentCredential:1",
        issuer="did:ethr:0x7a69:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
        signer=ISSUER,
        holder_key=HOLDER.public_key,
        iat=FIXED_NOW - 3600,
        exp=FIXED_NOW + 86_400 * 365,
        salts=_Salts(),
        status={"status_list": {"idx": index, "uri": LIST_URI}},
    )
    return present_sd_jwt(
        issued, disclose=["district"], holder_key=HOLDER, audience="counter-1", nonce=nonce, now=FIXED_NOW
    )


def _cp1_presentation(index: int, claims: dict | None = None, profile: str = "resident-basic") -> str:
    from credcore.cp1 import issue_cp1, present_cp1

    credential = issue_cp1(
        claims or {"city": 26000, "district": 26350, "age_over_19": True},
        profile=profile,
        signer=ISSUER,
        holder_key=HOLDER.public_key,
        status_list_id=7,
        status_index=index,
        iat=FIXED_NOW - 3600,
        exp=FIXED_NOW + 86_400 * 30,
    )
    return present_cp1(credential, holder_key=HOLDER, now=FIXED_NOW)


def _verify_args(files: dict[str, Path], *extra: str) -> list[str]:
    return ["--issuer-jwk", str(files["jwk"]), "--status-list", str(files["list"]), "--at", str(FIXED_NOW), *extra]


def test_inspect_sd_jwt(capsys):
    code, out, _ = _cli(capsys, "inspect", _sd_jwt_presentation(0))
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "sd-jwt" and doc["verified"] is False
    assert [d["name"] for d in doc["disclosures"]] == ["district"]


def test_verify_sd_jwt_presentation(capsys, files):
    text = _sd_jwt_presentation(0)
    code, out, _ = _cli(capsys, "verify", text, *_verify_args(files, "--nonce", "n-123", "--aud", "counter-1"))
    assert code == 0 and out.startswith("VERIFIED") and '"Haeundae"' in out


def test_verify_revoked_sd_jwt_is_exit_1(capsys, files):
    text = _sd_jwt_presentation(3)
    args = _verify_args(files, "--nonce", "n-123", "--aud", "counter-1", "--json")
    code, out, _ = _cli(capsys, "verify", text, *args)
    result = json.loads(out)
    assert code == 1 and result["code"] == "revoked" and result["claims"] == {}


def test_verify_sd_jwt_with_wrong_nonce_is_exit_1(capsys, files):
    text = _sd_jwt_presentation(0)
    code, out, _ = _cli(capsys, "verify", text, *_verify_args(files, "--nonce", "other", "--aud", "counter-1"))
    assert code == 1 and "nonce_mismatch" in out


def test_inspect_cp1(capsys):
    code, out, _ = _cli(capsys, "inspect", _cp1_presentation(0))
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "cp1" and doc["profile"] == "resident-basic"
    assert doc["status"] == {"list_id": 7, "index": 0}


def test_verify_cp1_from_a_qr_image(capsys, files, tmp_path):
    from wallet_sdk.qr import render_png

    image = tmp_path / "cp1.png"
    image.write_bytes(render_png(_cp1_presentation(0)))
    code, out, _ = _cli(capsys, "verify", str(image), *_verify_args(files, "--json"))
    result = json.loads(out)
    assert code == 0 and result["verified"] and result["claims"]["district"] == 26350


def test_verify_shows_a_byte_claim_in_hex_as_inspect_does(capsys, files):
    from credcore.profiles import business_number_digest

    digest = business_number_digest("123-45-67890")
    claims = {"business_number_digest": digest, "market": 1, "small_business": True, "programmes": []}
    text = _cp1_presentation(0, claims, profile="merchant-eligibility")
    code, out, _ = _cli(capsys, "verify", text, *_verify_args(files))
    assert code == 0 and f'business_number_digest: "{digest.hex()}"' in out
    code, out, _ = _cli(capsys, "verify", text, *_verify_args(files, "--json"))
    assert code == 0 and json.loads(out)["claims"]["business_number_digest"] == digest.hex()
    _, out, _ = _cli(capsys, "inspect", text)
    assert json.loads(out)["claims"]["business_number_digest"] == digest.hex()


def test_verify_suspended_cp1_is_exit_1(capsys, files):
    code, out, _ = _cli(capsys, "verify", _cp1_presentation(4), *_verify_args(files))
    assert code == 1 and "NOT VERIFIED (suspended)" in out


def test_verify_cp1_without_issuer_keys_is_exit_1(capsys, files):
    code, out, _ = _cli(capsys, "verify", _cp1_presentation(0), "--at", str(FIXED_NOW))
    assert code == 1 and out.startswith("NOT VERIFIED")


def test_corrupted_cp1_is_exit_2_one_line():
    _one_line_error(_shell("verify", "CP1:NOT-REALLY-BASE45%%"), "malformed_presentation")


def test_jpeg_photo_of_a_qr_code_is_read(capsys, tmp_path):
    from PIL import Image

    from wallet_sdk.qr import render_png

    token = jws.sign({"n": 2}, ISSUER)
    photo = tmp_path / "photo.jpg"
    Image.open(io.BytesIO(render_png(token, scale=6))).convert("RGB").save(photo, "JPEG", quality=85)
    code, out, _ = _cli(capsys, "inspect", str(photo))
    assert code == 0 and json.loads(out)["payload"] == {"n": 2}


def test_image_with_too_many_pixels_is_refused_before_decoding(capsys, tmp_path):
    from PIL import Image

    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 6000), 1).save(huge)  # 48 megapixels, a few kilobytes on disk
    code, _, err = _cli(capsys, "inspect", str(huge))
    assert code == 2 and err.startswith("civicpass: image_too_large:")


def test_status_list_without_issuer_key_is_a_usage_error(capsys, files):
    code, _, err = _cli(capsys, "verify", str(files["list"]))
    assert code == 2 and "--issuer-jwk" in err
