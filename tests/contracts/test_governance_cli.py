"""A consortium run from the command line only: ``civicpass chain up``, then ``civicpass governance`` from init
of a 3-of-5 consortium through a proposal, refused and accepted submissions, the registry view and a replay.

The chain is anvil (EIP-2537 natively; py-evm's pairings take seconds each), started by ``civicpass chain up`` as
a child process; every other step calls the ``civicpass`` entry point with an argument list, as a shell would,
in a working directory holding only what the commands wrote (the default ``.civicpass/deployment.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicpass.cli import main

pytestmark = [pytest.mark.chain, pytest.mark.node]

RESIDENT = "urn:civicpass:ResidentCredential:1"
NEW_ISSUER = "0x1111111111111111111111111111111111111111"


@pytest.fixture(scope="module")
def workdir(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("consortium")
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicpass", "chain", "up", "--engine", "anvil", "--port", "0"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("Ctrl-C stops") or time.monotonic() > deadline:
                break
        assert (root / ".civicpass" / "deployment.json").is_file(), "civicpass chain up did not deploy"
        yield root
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.fixture
def cli(workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("CIVICPASS_GOVERNANCE_PASSPHRASE", "member passphrase")
    monkeypatch.setenv("CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE", "payer passphrase")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["governance", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_three_of_five_consortium_from_init_to_replay(cli, workdir: Path):
    keys = [f"member{i}.json" for i in range(5)]
    for k in [*keys, "outsider.json"]:
        code, out, _ = cli("keygen", "--out", k, "--insecure-fast-kdf")
        assert code == 0 and "member card" in out
    doc = json.loads((workdir / keys[0]).read_text())
    assert "secret_key" not in doc and doc["kdf"]["name"] == "scrypt"  # sealed, not plaintext
    assert os.stat(workdir / keys[0]).st_mode & 0o077 == 0
    card = f"{doc['public_key']}:{doc['proof_of_possession']}"  # a member may hand over the card alone

    code, out, _ = cli("registry", "--json")
    assert code == 0 and json.loads(out)["admin"]["kind"] == "account"
    code, _, err = cli("members")
    assert code == 2 and "governance_not_set_up" in err and "governance init" in err
    code, _, err = cli("init", "--members", *keys, "--threshold", "3", "--dev-account", "operator", "--yes")
    assert code == 1 and "governance_not_registry_admin" in err and "what to do" in err
    code, _, err = cli("init", "--members", *keys, "--threshold", "6", "--dev-account", "admin", "--yes")
    assert code == 1 and "governance_threshold_invalid" in err

    code, out, err = cli("init", "--members", card, *keys[1:], "--threshold", "3", "--dev-account", "admin", "--yes")
    assert code == 0, err
    assert "3 of 5 members must sign every change" in out and "moves from" in out
    assert "waiting for inclusion" in err and "included in block" in err  # progress
    deployment = json.loads((workdir / ".civicpass" / "deployment.json").read_text())
    governance = deployment["contracts"]["TrustGovernance"]
    code, _, err = cli("init", "--members", *keys, "--threshold", "3", "--dev-account", "admin", "--yes")
    assert code == 1 and "governance_already_initialised" in err and "what to do" in err

    code, out, _ = cli("account", "--dev-account", "operator", "--out", "payer.json", "--insecure-fast-kdf")
    assert code == 0 and json.loads((workdir / "payer.json").read_text())["crypto"]["kdf"] == "scrypt"
    assert "fund it" not in out and "ether to pay" in out  # a dev account has ether already

    code, out, _ = cli("propose", "accredit", NEW_ISSUER, f"did:ethr:0x7a69:{NEW_ISSUER}", "Market office", RESIDENT)
    assert code == 0
    proposal = ".civicpass/proposals/proposal-0-accredit.json"
    assert (workdir / proposal).is_file()

    code, _, err = cli("sign", proposal, "--key", "outsider.json", "--yes")
    assert code == 1 and "governance_not_a_member" in err and "what to do" in err
    for k in keys[:2]:
        code, out, err = cli("sign", proposal, "--key", k, "--yes")
        assert code == 0, err
    submit = ("submit", proposal, "--account", "payer.json")
    code, _, err = cli(*submit)
    assert code == 1 and "governance_too_few_signers" in err and "2 valid signatures of the 3 needed" in err

    tampered = json.loads((workdir / proposal).read_text())  # same signatures, another issuer name
    from credcore import bls

    tampered["payload"] = bls.Proposal.of(bls.Action.ACCREDIT_ISSUER, NEW_ISSUER, f"did:ethr:0x7a69:{NEW_ISSUER}",
                                          "Forged office", [RESIDENT]).payload.hex()
    (workdir / "tampered.json").write_text(json.dumps(tampered))
    code, _, err = cli("sign", "tampered.json", "--key", keys[2], "--yes")
    assert code == 1 and "governance_signature_mismatch" in err and "changed after they signed" in err

    elsewhere = {**tampered, "governance": NEW_ISSUER}  # signed for another contract: never sent to it
    (workdir / "elsewhere.json").write_text(json.dumps(elsewhere))
    code, _, err = cli("submit", "elsewhere.json", "--account", "payer.json")
    assert code == 2 and f"not for {governance}" in err

    code, _, err = cli("sign", proposal, "--key", keys[2], "--yes", "--passphrase-file", "payer.json")
    assert code == 2 and "governance_wrong_passphrase" in err

    code, out, _ = cli("proposals")
    assert "waiting for signatures" in out and "(2 of 3)" in out

    code, out, err = cli("sign", proposal, "--key", keys[2], "--yes")
    assert code == 0, err
    code, out, err = cli(*submit)
    assert code == 0, err
    assert "executed proposal 0" in out

    code, out, _ = cli("registry", "--json")
    view = json.loads(out)
    assert view["admin"] == {"address": governance, "kind": "TrustGovernance", "threshold": 3, "members": 5,
                             "next_nonce": 1}
    market = next(i for i in view["issuers"] if i["account"] == NEW_ISSUER)
    assert market["name"] == "Market office" and market["credential_types"] == [RESIDENT]
    code, out, _ = cli("registry")
    assert "Market office" in out and "3 of 5 members sign each change" in out

    code, _, err = cli(*submit)
    assert code == 1 and "governance_stale_nonce" in err and "already used" in err and "propose" in err
    code, out, _ = cli("proposals")
    assert "0 proposal(s) waiting" in out


def test_a_plaintext_member_key_is_refused_with_the_way_to_seal_it(cli, workdir: Path):
    old = workdir / "old-member.json"
    from credcore import bls

    sk = bls.keygen(b"\x01" * 32)
    old.write_text(json.dumps({"secret_key": f"{sk:064x}", "public_key": bls.public_key(sk).hex(),
                               "proof_of_possession": bls.prove_possession(sk).hex()}))
    shutil.copy(old, workdir / "old-copy.json")
    code, _, err = cli("sign", ".civicpass/proposals/proposal-0-accredit.json", "--key", "old-member.json", "--yes")
    assert code == 1 and "governance_not_a_member" in err  # membership is checked before the key is opened
    code, _, err = cli("keygen", "--import", "old-member.json", "--out", "sealed.json", "--insecure-fast-kdf")
    assert code == 0, err
    assert json.loads((workdir / "sealed.json").read_text())["public_key"] == bls.public_key(sk).hex()


def test_a_new_member_by_card_and_a_payer_without_ether(cli, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    doc = json.loads((workdir / "outsider.json").read_text())
    card = f"{doc['public_key']}:{doc['proof_of_possession']}"  # as keygen printed it, for the consortium
    code, out, err = cli("propose", "add-member", card, "--out", "add-by-card.json")
    assert code == 0, err
    assert "ADD_MEMBER" in out
    code, _, err = cli("propose", "add-member", "outsider.json", "--out", "add-by-file.json")
    assert code == 0, err
    other = json.loads((workdir / "member0.json").read_text())["proof_of_possession"]
    code, _, err = cli("propose", "add-member", f"{doc['public_key']}:{other}", "--out", "bad-card.json")
    assert code == 1 and "governance_pop_invalid" in err and not (workdir / "bad-card.json").exists()

    code, out, _ = cli("account", "--out", "fresh.json", "--insecure-fast-kdf")  # a new account owns nothing
    assert code == 0 and "fund it" in out
    for k in ("member0.json", "member1.json", "member2.json"):
        code, _, err = cli("sign", "add-by-card.json", "--key", k, "--yes")
        assert code == 0, err
    code, _, err = cli("submit", "add-by-card.json", "--account", "fresh.json")
    assert code == 1 and "governance_account_unfunded" in err and "--dev-account admin" in err

    monkeypatch.delenv("CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE")  # and no terminal to ask on
    code, _, err = cli("submit", "add-by-card.json", "--account", "fresh.json")
    assert code == 2 and "governance_passphrase_missing" in err
    assert "pass --account-passphrase-file FILE or set" in err  # the option submit has
    monkeypatch.setenv("CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE", "payer passphrase")

    code, out, err = cli("submit", "add-by-card.json", "--account", "payer.json")
    assert code == 0, err
    code, out, _ = cli("members")
    assert doc["public_key"] in out and "3 of 6" in out
