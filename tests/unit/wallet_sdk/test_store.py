"""The encrypted wallet store: passphrase, tampering, crashes mid-write, single-use copies, backup/restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from wallet_helpers import FAST_KDF, PASS, synthetic_credential

from credcore.errors import all_error_classes
from wallet_sdk.backup import export_backup, restore_backup
from wallet_sdk.errors import (
    NoUnusedCopyError,
    WalletCorruptError,
    WalletExistsError,
    WalletNotFoundError,
    WrongPassphraseError,
)
from wallet_sdk.records import LogEntry
from wallet_sdk.store import Wallet

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def test_created_wallet_reopens_with_its_credentials_and_keys(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    again = Wallet.open(wallet.path, PASS)
    loaded = again.load(stored.id)
    assert [s.id for s in again.summaries()] == [stored.id]
    assert loaded.copies[1].credential == stored.copies[1].credential
    assert loaded.copies[1].holder_key.public_key == stored.copies[1].holder_key.public_key
    assert loaded.sd_jwt_key is not None and stored.sd_jwt_key is not None
    assert loaded.sd_jwt_key.public_key == stored.sd_jwt_key.public_key


def test_nothing_is_stored_in_the_clear(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    secret = stored.copies[0].credential
    for p in wallet.path.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert secret not in data and b"ResidentCredential" not in data and b"sd_jwt" not in data


def test_wrong_passphrase_is_refused_with_a_stable_code(wallet: Wallet) -> None:
    with pytest.raises(WrongPassphraseError) as exc:
        Wallet.open(wallet.path, "not the passphrase")
    assert exc.value.code == "wallet_wrong_passphrase"


def test_changed_passphrase_opens_and_the_old_one_no_longer_does(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    wallet.change_passphrase("a new passphrase", kdf=FAST_KDF)
    assert Wallet.open(wallet.path, "a new passphrase").load(stored.id).id == stored.id
    with pytest.raises(WrongPassphraseError):
        Wallet.open(wallet.path, PASS)


def test_creation_cut_off_before_the_header_can_be_redone(tmp_path: Path) -> None:
    # What a crash during create leaves: index and log written, no header yet.
    first = Wallet.create(tmp_path / "w", PASS, kdf=FAST_KDF)
    (first.path / "wallet.json").unlink()
    assert not Wallet.exists(first.path)
    again = Wallet.create(tmp_path / "w", PASS, kdf=FAST_KDF)
    assert Wallet.open(again.path, PASS).summaries() == []


def test_create_refuses_a_directory_with_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(WalletExistsError):
        Wallet.create(tmp_path / "w", PASS, kdf=FAST_KDF)


def test_missing_wallet_is_reported_as_not_found(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFoundError):
        Wallet.open(tmp_path / "nothing", PASS)


def test_create_refuses_a_directory_that_already_holds_a_wallet(wallet: Wallet) -> None:
    with pytest.raises(WalletExistsError):
        Wallet.create(wallet.path, PASS, kdf=FAST_KDF)


def test_tampered_credential_blob_is_refused(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    blob = wallet.path / "creds" / f"{stored.id}.enc"
    data = bytearray(blob.read_bytes())
    data[40] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(WalletCorruptError) as exc:
        Wallet.open(wallet.path, PASS).load(stored.id)
    assert exc.value.code == "wallet_corrupt"


def test_tampered_index_is_refused_on_open(wallet: Wallet) -> None:
    index = wallet.path / "index.enc"
    data = bytearray(index.read_bytes())
    data[-1] ^= 0x80
    index.write_bytes(bytes(data))
    with pytest.raises(WalletCorruptError):
        Wallet.open(wallet.path, PASS)


def test_blob_moved_to_another_credentials_name_is_refused(wallet: Wallet) -> None:
    a, b = wallet.add(synthetic_credential()), wallet.add(synthetic_credential())
    creds = wallet.path / "creds"
    (creds / f"{a.id}.enc").write_bytes((creds / f"{b.id}.enc").read_bytes())
    with pytest.raises(WalletCorruptError):
        wallet.load(a.id)


def test_altered_kdf_parameters_do_not_open_the_wallet(wallet: Wallet) -> None:
    header_path = wallet.path / "wallet.json"
    header = json.loads(header_path.read_text())
    header["kdf"]["n"] = 2**11
    header_path.write_text(json.dumps(header))
    with pytest.raises(WrongPassphraseError):
        Wallet.open(wallet.path, PASS)


def test_absurd_kdf_parameters_are_refused_before_deriving(wallet: Wallet) -> None:
    header_path = wallet.path / "wallet.json"
    header = json.loads(header_path.read_text())
    header["kdf"]["n"] = 2**30
    header_path.write_text(json.dumps(header))
    with pytest.raises(WalletCorruptError):
        Wallet.open(wallet.path, PASS)


def test_truncated_index_file_is_reported_as_corrupt_not_a_crash(wallet: Wallet) -> None:
    index = wallet.path / "index.enc"
    index.write_bytes(index.read_bytes()[:10])
    with pytest.raises(WalletCorruptError):
        Wallet.open(wallet.path, PASS)


def test_truncated_temporary_file_left_by_a_crash_is_ignored_and_swept(wallet: Wallet) -> None:
    first = wallet.add(synthetic_credential())
    junk = wallet.path / "index.enc.tmp-deadbeef"
    junk.write_bytes((wallet.path / "index.enc").read_bytes()[:17])
    reopened = Wallet.open(wallet.path, PASS)
    assert [s.id for s in reopened.summaries()] == [first.id]
    reopened.add(synthetic_credential())
    assert not junk.exists()


def test_writer_killed_before_the_index_commit_leaves_the_old_state_readable(wallet: Wallet) -> None:
    first = wallet.add(synthetic_credential())
    # A child process adds a credential and is SIGKILLed inside the atomic write of the index, after the
    # temporary file is written and fsync'd but before os.replace: the crash window that matters.
    script = textwrap.dedent(
        f"""
        import os, signal
        from wallet_sdk import _seal
        from wallet_sdk.store import Wallet
        from wallet_helpers import PASS, synthetic_credential
        w = Wallet.open({str(wallet.path)!r}, PASS)
        real_replace = os.replace
        def crash(src, dst):
            if str(dst).endswith("index.enc"):
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
        _seal.os.replace = crash
        w.add(synthetic_credential())
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = list(wallet.path.glob("index.enc.tmp-*"))
    assert leftovers, "the killed writer should have left its temporary index behind"
    reopened = Wallet.open(wallet.path, PASS)
    assert [s.id for s in reopened.summaries()] == [first.id]
    assert len(list((wallet.path / "creds").glob("*.enc"))) == 2  # the orphan blob, not yet swept
    reopened.add(synthetic_credential())
    assert not list(wallet.path.glob("*.tmp-*"))
    assert len(list((wallet.path / "creds").glob("*.enc"))) == 2


def test_each_copy_is_handed_out_once_even_across_reopen(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential(copies=2))
    first = wallet.take_copy(stored.id, "resident-basic")
    second = Wallet.open(wallet.path, PASS).take_copy(stored.id, "resident-basic")
    assert {first.index, second.index} == {0, 1}
    assert second.remaining == 0
    with pytest.raises(NoUnusedCopyError) as exc:
        Wallet.open(wallet.path, PASS).take_copy(stored.id, "resident-basic")
    assert exc.value.code == "wallet_no_unused_copy"


def test_unknown_profile_has_no_copy(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    with pytest.raises(NoUnusedCopyError):
        wallet.take_copy(stored.id, "merchant-eligibility")


def test_two_handles_on_one_wallet_do_not_lose_each_others_writes(wallet: Wallet) -> None:
    other = Wallet.open(wallet.path, PASS)
    a = wallet.add(synthetic_credential())
    b = other.add(synthetic_credential())
    assert {s.id for s in Wallet.open(wallet.path, PASS).summaries()} == {a.id, b.id}


def test_ids_resolve_by_unique_prefix(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    assert wallet.resolve(stored.id[:5]) == stored.id
    with pytest.raises(WalletNotFoundError):
        wallet.resolve("zz")


def test_history_records_names_only_and_survives_reopen(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    wallet.log(LogEntry(at=5, credential_id=stored.id, kind="openid4vp", verifier="x", claims=("city",)))
    assert Wallet.open(wallet.path, PASS).history()[0].claims == ("city",)


def test_backup_restores_onto_a_new_directory_with_a_new_passphrase(wallet: Wallet, tmp_path: Path) -> None:
    stored = wallet.add(synthetic_credential(copies=3))
    wallet.take_copy(stored.id)
    wallet.log(LogEntry(at=5, credential_id=stored.id, kind="cp1", profile="resident-basic"))
    export_backup(wallet, tmp_path / "backup.cpwb", "backup pass", kdf=FAST_KDF)
    restored = restore_backup(
        tmp_path / "backup.cpwb", "backup pass", tmp_path / "new", new_passphrase="new pass", kdf=FAST_KDF
    )
    assert restored.wallet_id != wallet.wallet_id
    assert restored.summary(stored.id).used == frozenset({0})
    assert restored.load(stored.id).copies[2].credential == stored.copies[2].credential
    assert restored.history()[0].kind == "cp1"
    assert Wallet.open(tmp_path / "new", "new pass").take_copy(stored.id).index == 1


def test_backup_with_wrong_passphrase_is_refused(wallet: Wallet, tmp_path: Path) -> None:
    export_backup(wallet, tmp_path / "b", "backup pass", kdf=FAST_KDF)
    with pytest.raises(WrongPassphraseError):
        restore_backup(tmp_path / "b", "guess", tmp_path / "new", kdf=FAST_KDF)
    assert not (tmp_path / "new").exists()


def test_tampered_backup_is_refused_and_leaves_no_directory(wallet: Wallet, tmp_path: Path) -> None:
    wallet.add(synthetic_credential())
    export_backup(wallet, tmp_path / "b", "backup pass", kdf=FAST_KDF)
    doc = json.loads((tmp_path / "b").read_text())
    payload = doc["payload"]
    doc["payload"] = payload[:50] + ("A" if payload[50] != "A" else "B") + payload[51:]
    (tmp_path / "b").write_text(json.dumps(doc))
    with pytest.raises(WalletCorruptError):
        restore_backup(tmp_path / "b", "backup pass", tmp_path / "new", kdf=FAST_KDF)
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".new")]


def test_restore_refuses_a_non_empty_target(wallet: Wallet, tmp_path: Path) -> None:
    export_backup(wallet, tmp_path / "b", "backup pass", kdf=FAST_KDF)
    with pytest.raises(WalletExistsError):
        restore_backup(tmp_path / "b", "backup pass", wallet.path, kdf=FAST_KDF)


def test_files_are_private_to_the_owner(wallet: Wallet) -> None:
    stored = wallet.add(synthetic_credential())
    for p in (wallet.path / "index.enc", wallet.path / "creds" / f"{stored.id}.enc", wallet.path / "wallet.json"):
        assert os.stat(p).st_mode & 0o077 == 0


def test_wallet_error_codes_are_unique_across_the_project() -> None:
    import wallet_sdk.errors  # noqa: F401  (registers the subclasses)

    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
