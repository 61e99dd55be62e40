"""``civicpass wallet``: each command end to end in-process, with the spec-built fake issuer and verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from wallet_fake_issuer import ISSUER_ID, FakeIssuer
from wallet_fake_verifier import FakeVerifier
from wallet_helpers import NOW

from civicpass import wallet_cmd
from civicpass.cli import main
from credcore.presentations import verify_presentation
from credcore.status_list import StatusList, sign_status_list_jwt
from credcore.trust import StatusListRecord, TrustSnapshot
from wallet_sdk.qr import decode_qr_image


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(now=NOW)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: FakeIssuer) -> dict[str, Any]:
    """A wallet directory and passphrase in the environment, the clock fixed, HTTP going to the fakes."""
    clients: dict[str, Any] = {"http": issuer.client}  # a factory: each command closes its client
    monkeypatch.setenv("CIVICPASS_WALLET", str(tmp_path / "w"))
    monkeypatch.setenv("CIVICPASS_WALLET_PASSPHRASE", "cli pass phrase")
    monkeypatch.setattr(wallet_cmd, "_now", lambda: NOW)
    monkeypatch.setattr(wallet_cmd, "_http", lambda: clients["http"]())  # noqa: PLW0108 (late binding: tests swap it)
    jwk = tmp_path / "issuer.jwk"
    jwk.write_text(json.dumps(issuer.key.public_key.to_jwk()))
    clients["jwk"] = str(jwk)
    assert main(["wallet", "init", "--insecure-fast-kdf"]) == 0
    return clients


def _accept(issuer: FakeIssuer, env: dict[str, Any], *extra: str) -> int:
    return main(["wallet", "accept", issuer.offer(), "--tx-code", issuer.pin, "--issuer-jwk", str(env["jwk"]), *extra])


def _only_id(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["wallet", "list", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    return str(entry["id"])


def test_accept_then_list_and_show(env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    assert _accept(issuer, env, "--copies", "3") == 0
    assert "SD-JWT VC + 3 offline copies" in capsys.readouterr().out
    cid = _only_id(capsys)
    assert main(["wallet", "list"]) == 0
    assert "resident-basic 3/3" in capsys.readouterr().out
    assert main(["wallet", "show", cid[:6]]) == 0
    out = capsys.readouterr().out
    assert ISSUER_ID in out and '"Busan"' in out


def test_wrong_transaction_code_exits_1_with_a_hint_and_no_traceback(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["wallet", "accept", issuer.offer(), "--tx-code", "111111", "--issuer-jwk", str(env["jwk"])])
    err = capsys.readouterr().err
    assert code == 1 and "wallet_issuer_refused" in err and "wrong transaction code" in err
    assert "Traceback" not in err


def test_accept_needs_to_know_whom_to_trust(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["wallet", "accept", issuer.offer(), "--tx-code", issuer.pin]) == 2
    assert "--issuer-jwk" in capsys.readouterr().err


def test_malformed_offer_exits_2(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wallet", "accept", "openid-credential-offer://?x=1", "--issuer-jwk", str(env["jwk"])]) == 2
    assert "wallet_bad_request" in capsys.readouterr().err


def test_wrong_passphrase_exits_2(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIVICPASS_WALLET_PASSPHRASE", "wrong")
    assert main(["wallet", "list"]) == 2
    assert "wallet_wrong_passphrase" in capsys.readouterr().err


def test_no_passphrase_without_a_terminal_is_a_usage_error(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CIVICPASS_WALLET_PASSPHRASE")
    assert main(["wallet", "list"]) == 2
    err = capsys.readouterr().err
    assert "wallet_passphrase_missing" in err and "CIVICPASS_WALLET_PASSPHRASE" in err


def test_a_repeated_passphrase_that_differs_is_its_own_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = iter(["first phrase", "other phrase"])
    monkeypatch.setenv("CIVICPASS_WALLET", str(tmp_path / "new"))
    monkeypatch.delenv("CIVICPASS_WALLET_PASSPHRASE", raising=False)
    monkeypatch.setattr(wallet_cmd.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(wallet_cmd.getpass, "getpass", lambda prompt: next(typed))
    assert main(["wallet", "init", "--insecure-fast-kdf"]) == 2
    assert "wallet_passphrases_differ" in capsys.readouterr().err
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())  # no wallet made


def test_qr_png_verifies_and_spends_one_copy(
    env: dict[str, Any], issuer: FakeIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _accept(issuer, env, "--copies", "2")
    cid = _only_id(capsys)
    assert main(["wallet", "qr", cid, "--out", str(tmp_path / "qr.png")]) == 0
    assert "1 left" in capsys.readouterr().err
    [text] = decode_qr_image((tmp_path / "qr.png").read_bytes())
    lst = StatusList.empty(1024)
    record = StatusListRecord(ISSUER_ID, 1, "https://issuer.example/city/status-lists/1", lst)
    trust = TrustSnapshot(issuers=issuer.trust().issuers, status_lists=(record,))
    assert verify_presentation(text, trust=trust, now=NOW).verified
    assert main(["wallet", "qr", cid, "--text"]) == 0
    assert capsys.readouterr().out.startswith("CP1:")
    assert main(["wallet", "qr", cid]) == 1
    assert "new batch" in capsys.readouterr().err


def test_qr_draws_in_the_terminal_and_svg_to_a_file(
    env: dict[str, Any], issuer: FakeIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _accept(issuer, env)
    cid = _only_id(capsys)
    assert main(["wallet", "qr", cid, "--watch", "--steps", "1"]) == 0
    assert "▄" in capsys.readouterr().out
    assert main(["wallet", "qr", cid, "--out", str(tmp_path / "qr.svg")]) == 0
    assert (tmp_path / "qr.svg").read_text().startswith("<svg")


def test_respond_shows_what_is_asked_and_sends_on_yes(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    _accept(issuer, env)
    capsys.readouterr()
    record = StatusListRecord(ISSUER_ID, 1, "https://issuer.example/city/status-lists/1", StatusList.empty(64))
    verifier = FakeVerifier(now=NOW, trust=TrustSnapshot(issuers=issuer.trust().issuers, status_lists=(record,)))
    env["http"] = verifier.client
    meta = {"vct_values": ["urn:civicpass:ResidentCredential:1"]}
    claims = [{"path": ["city"]}, {"path": ["birth_date"]}]
    dcql = {"credentials": [{"id": "r", "format": "dc+sd-jwt", "meta": meta, "claims": claims}]}
    assert main(["wallet", "respond", verifier.request(dcql), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "asks for [r]: city, birth_date" in out and "signature checked" in out and "sent" in out
    assert verifier.results[0].verified
    assert main(["wallet", "respond", verifier.request(dcql), "--decline"]) == 1
    assert verifier.answers[-1]["error"] == "access_denied"
    assert main(["wallet", "respond", verifier.request(dcql)]) == 2  # no terminal to ask, no --yes
    assert "--yes" in capsys.readouterr().err


def test_status_reports_revocation_with_exit_1(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    _accept(issuer, env)
    cid = _only_id(capsys)
    uri = "https://issuer.example/city/status-lists/1"
    issuer.status_list_jwt = sign_status_list_jwt(StatusList.empty(1024), uri=uri, signer=issuer.key, iat=NOW)
    assert main(["wallet", "status", cid, "--issuer-jwk", str(env["jwk"])]) == 0
    issuer.status_list_jwt = sign_status_list_jwt(StatusList.empty(1024).set(7, 1), uri=uri, signer=issuer.key, iat=NOW)
    assert main(["wallet", "status", cid, "--issuer-jwk", str(env["jwk"])]) == 1
    assert "revoked" in capsys.readouterr().out


def test_unreachable_issuer_exits_3(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    env["http"] = lambda: httpx.Client(transport=httpx.MockTransport(down))
    assert _accept(issuer, env) == 3
    assert "wallet_peer_unreachable" in capsys.readouterr().err


def test_backup_and_restore_to_a_new_directory(
    env: dict[str, Any],
    issuer: FakeIssuer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _accept(issuer, env)
    cid = _only_id(capsys)
    monkeypatch.setenv("CIVICPASS_WALLET_BACKUP_PASSPHRASE", "backup only")
    assert main(["wallet", "backup", str(tmp_path / "w.backup"), "--insecure-fast-kdf"]) == 0
    monkeypatch.setenv("CIVICPASS_WALLET", str(tmp_path / "restored"))
    assert main(["wallet", "restore", str(tmp_path / "w.backup"), "--insecure-fast-kdf"]) == 0
    assert _only_id(capsys) == cid
    monkeypatch.setenv("CIVICPASS_WALLET_BACKUP_PASSPHRASE", "wrong")
    assert main(["wallet", "restore", str(tmp_path / "w.backup"), "--wallet", str(tmp_path / "again")]) == 2


def test_qr_with_a_damaged_history_shows_the_copy_it_spends(
    env: dict[str, Any], issuer: FakeIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: exit 2 and the copy spent anyway, so each try burned one. Now each spent copy is shown.
    from wallet_sdk.store import _LOG

    _accept(issuer, env, "--copies", "3")
    cid = _only_id(capsys)
    (tmp_path / "w" / _LOG).write_bytes(b"damaged")
    for left in (2, 1):
        assert main(["wallet", "qr", cid, "--text"]) == 0
        out, err = capsys.readouterr()
        assert out.startswith("CP1:") and f"{left} left" in err and "history is damaged" in err


def test_restore_refuses_a_backup_asking_for_huge_scrypt_parameters(
    env: dict[str, Any], issuer: FakeIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _accept(issuer, env)
    monkeypatch.setenv("CIVICPASS_WALLET_BACKUP_PASSPHRASE", "backup only")
    backup = tmp_path / "w.backup"
    assert main(["wallet", "backup", str(backup), "--insecure-fast-kdf"]) == 0
    doc = json.loads(backup.read_text())
    doc["kdf"].update({"n": 2**20, "r": 32, "p": 16})  # each within its old bound: 4 GiB and minutes of work
    backup.write_text(json.dumps(doc))
    monkeypatch.setenv("CIVICPASS_WALLET", str(tmp_path / "restored"))
    capsys.readouterr()
    assert main(["wallet", "restore", str(backup), "--insecure-fast-kdf"]) == 2  # refused before deriving
    assert "more than this SDK allows" in capsys.readouterr().err


def test_refresh_without_a_refresh_token_says_a_new_offer_is_needed(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _accept(issuer, env, "--copies", "2") == 0
    cid = _only_id(capsys)
    assert main(["wallet", "refresh", "--issuer-jwk", str(env["jwk"])]) == 0
    assert "no credential needs new copies" in capsys.readouterr().out  # not refreshable: nothing to top up
    code = main(["wallet", "refresh", cid, "--issuer-jwk", str(env["jwk"])])
    captured = capsys.readouterr()
    assert code != 0 and "wallet_not_refreshable" in captured.err + captured.out


def test_show_keeps_a_space_between_a_long_claim_name_and_its_value(
    env: dict[str, Any], issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import wallet_fake_issuer

    monkeypatch.setitem(wallet_fake_issuer.CLAIMS, "resident_since", "2019-03-01")
    monkeypatch.setitem(wallet_fake_issuer.CLAIMS, "registered_address_district", "Haeundae-gu")
    _accept(issuer, env)
    cid = _only_id(capsys)
    assert main(["wallet", "show", cid]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = ("city", "resident_since", "registered_address_district")
    shown = [line for line in lines if line.lstrip().startswith(names)]
    assert [line.split() for line in shown if "resident_since" in line] == [["resident_since", '"2019-03-01"']]
    assert len({line.index('"') for line in shown}) == 1  # the values start in one column


def test_few_copies_left_names_a_refresh_command_that_runs_as_printed(
    env: dict[str, Any], issuer: FakeIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex
    import sys

    # a civicpass up demo wallet, used from the directory above the data directory, civicpass not on PATH
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: None)
    (tmp_path / "data" / "wallets").mkdir(parents=True)
    (tmp_path / "data" / "deployment.json").write_text("{}")
    (tmp_path / "pass").write_text("cli pass phrase\n")
    given = ["--wallet", "data/wallets/resident", "--passphrase-file", "pass"]
    assert main(["wallet", "init", "--insecure-fast-kdf", *given]) == 0
    assert _accept(issuer, env, "--copies", "4", *given) == 0
    capsys.readouterr()
    assert main(["wallet", "list", "--json", *given]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert main(["wallet", "qr", entry["id"], "--text", *given]) == 0
    err = capsys.readouterr().err
    assert "few copies left" in err
    argv = shlex.split(err.split("`")[1])
    assert argv[0] == str(Path(sys.executable).parent / "civicpass")
    assert argv[1:] == ["wallet", "refresh", *given, "--chain", "data/deployment.json"]

    monkeypatch.delenv("CIVICPASS_WALLET")  # only what the command says
    monkeypatch.delenv("CIVICPASS_WALLET_PASSPHRASE")
    trusted: list[str] = []

    def trust(args: Any, now: int) -> tuple[Any, dict[str, bytes]]:  # the chain itself is not running here
        trusted.append(args.chain)
        return issuer.trust(), {}

    monkeypatch.setattr(wallet_cmd, "_trust", trust)
    assert main(argv[1:]) == 0
    assert trusted == ["data/deployment.json"]


def test_show_lists_each_showing_once_saying_shown_once(
    env: dict[str, Any], issuer: FakeIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    _accept(issuer, env)
    cid = _only_id(capsys)
    assert main(["wallet", "qr", cid, "--text"]) == 0
    record = StatusListRecord(ISSUER_ID, 1, "https://issuer.example/city/status-lists/1", StatusList.empty(64))
    verifier = FakeVerifier(now=NOW, trust=TrustSnapshot(issuers=issuer.trust().issuers, status_lists=(record,)))
    env["http"] = verifier.client
    meta = {"vct_values": ["urn:civicpass:ResidentCredential:1"]}
    dcql = {"credentials": [{"id": "r", "format": "dc+sd-jwt", "meta": meta, "claims": [{"path": ["city"]}]}]}
    assert main(["wallet", "respond", verifier.request(dcql), "--yes"]) == 0
    capsys.readouterr()
    assert main(["wallet", "show", cid]) == 0
    history = [line.strip() for line in capsys.readouterr().out.splitlines() if "shown" in line]
    assert len(history) == 2 and all(line.count("shown") == 1 for line in history)
    assert history[0].endswith("as an offline QR: resident-basic")
    assert history[1].endswith(": city (accepted)") and " to " in history[1]
