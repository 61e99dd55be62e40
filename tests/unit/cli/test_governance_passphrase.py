"""A missing passphrase is refused as ``governance_passphrase_missing``, naming the option the command has, not
as a wrong one; an empty one and a repetition that differs each have their own code too."""

from __future__ import annotations

import pytest

from civicpass.cli import main


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CIVICPASS_GOVERNANCE_PASSPHRASE", raising=False)
    monkeypatch.delenv("CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE", raising=False)


@pytest.mark.parametrize(("command", "option", "variable"), [
    ("keygen", "--passphrase-file", "CIVICPASS_GOVERNANCE_PASSPHRASE"),
    ("account", "--account-passphrase-file", "CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE"),
])
def test_no_passphrase_and_no_terminal_is_its_own_refusal(capsys, command, option, variable):
    assert main(["governance", command, "--out", "new.json", "--insecure-fast-kdf"]) == 2  # stdin is no terminal
    err = capsys.readouterr().err
    assert "governance_passphrase_missing" in err and "governance_wrong_passphrase" not in err
    assert f"pass {option} FILE or set {variable}" in err and "chosen when the file was made" not in err


def test_an_empty_passphrase_is_its_own_refusal(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["governance", "keygen", "--out", "new.json", "--insecure-fast-kdf", "--passphrase-file",
                 str(empty)]) == 2
    err = capsys.readouterr().err
    assert "governance_passphrase_empty" in err and "governance_wrong_passphrase" not in err
    assert not (tmp_path / "new.json").exists()


def test_a_repeated_passphrase_that_differs_is_its_own_refusal(capsys, tmp_path, monkeypatch):
    from civicpass import _governance_keys

    typed = iter(["first phrase", "other phrase"])
    monkeypatch.setattr(_governance_keys.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(_governance_keys.getpass, "getpass", lambda prompt: next(typed))
    assert main(["governance", "keygen", "--out", "new.json", "--insecure-fast-kdf"]) == 2
    err = capsys.readouterr().err
    assert "governance_passphrases_differ" in err and "governance_wrong_passphrase" not in err
    assert "same passphrase twice" in err
    assert not (tmp_path / "new.json").exists()
