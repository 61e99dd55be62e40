"""Encrypted backup of a whole wallet to one file, and restore onto a new directory (the lost-phone case).

The backup is a small JSON document: scrypt parameters with a fresh salt, a fresh random key wrapped
under the backup passphrase, and the wallet's decrypted state sealed under that key (AES-GCM, the header
as associated data). It shares no key with the wallet it came from, so it can be kept elsewhere and
protected by a different passphrase. Restore builds the new wallet in a sibling temporary directory and
renames it into place: the target either appears complete or not at all.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any, Final

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import CredError
from credcore.keys import parse_json_object
from wallet_sdk._seal import DEFAULT_KDF, ScryptParams, atomic_write, open_blob, seal_blob, unwrap_key, wrap_key
from wallet_sdk.errors import WalletCorruptError, WalletExistsError, WrongPassphraseError
from wallet_sdk.store import Wallet

__all__ = ["BACKUP_FORMAT", "export_backup", "restore_backup"]

BACKUP_FORMAT: Final = "civicpass-wallet-backup"
_MAX_BACKUP: Final = 256 * 1024 * 1024


def _aad(kdf: ScryptParams) -> bytes:
    return b"civicpass-wallet-backup/1|" + json.dumps(kdf.to_json(), sort_keys=True).encode()


def export_backup(wallet: Wallet, file: str | Path, passphrase: str, *, kdf: ScryptParams = DEFAULT_KDF) -> None:
    """Write an encrypted backup of ``wallet`` to ``file`` (atomically), protected by ``passphrase``."""
    params = kdf.with_new_salt()
    key = secrets.token_bytes(32)
    aad = _aad(params)
    state = json.dumps({"wallet_id": wallet.wallet_id, **wallet.export_state()}, separators=(",", ":"))
    doc = {
        "format": BACKUP_FORMAT,
        "version": 1,
        "kdf": params.to_json(),
        "key": wrap_key(params.derive(passphrase), key, aad),
        "payload": b64u_encode(seal_blob(key, state.encode(), aad)),
    }
    atomic_write(Path(file), json.dumps(doc).encode())


def restore_backup(
    file: str | Path,
    passphrase: str,
    target: str | Path,
    *,
    new_passphrase: str | None = None,
    kdf: ScryptParams = DEFAULT_KDF,
) -> Wallet:
    """Restore the backup in ``file`` into the new directory ``target``.

    The restored wallet is protected by ``new_passphrase`` (default: the backup passphrase).

    Raises:
        WrongPassphraseError: the passphrase does not open the backup.
        WalletCorruptError: the file is not a backup, or is damaged or altered.
        WalletExistsError: ``target`` exists and is not empty.
    """
    dest = Path(target)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise WalletExistsError("the restore target exists and is not empty")
    state = _read(Path(file), passphrase)
    staging = dest.with_name(f".{dest.name}.restore-{secrets.token_hex(4)}")
    try:
        wallet = Wallet.create(staging, new_passphrase or passphrase, kdf=kdf)
        wallet.import_state(state)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Wallet.open(dest, new_passphrase or passphrase)


def _read(file: Path, passphrase: str) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            raw = fh.read(_MAX_BACKUP + 1)
    except FileNotFoundError:
        raise WalletCorruptError("backup file not found") from None
    try:
        doc = parse_json_object(raw, "backup")
        if doc.get("format") != BACKUP_FORMAT or doc.get("version") != 1 or len(raw) > _MAX_BACKUP:
            raise WalletCorruptError("not a civicpass wallet backup")
        params = ScryptParams.from_json(doc.get("kdf"))
        aad = _aad(params)
        key = unwrap_key(params.derive(passphrase), str(doc.get("key")), aad)
        plain = open_blob(key, b64u_decode(str(doc.get("payload"))), aad, "backup")
        state = parse_json_object(plain, "backup contents")
    except (WalletCorruptError, WrongPassphraseError):
        raise
    except CredError:
        raise WalletCorruptError("backup is damaged or not a civicpass wallet backup") from None
    if not all(isinstance(state.get(k), list) for k in ("index", "credentials", "log")):
        raise WalletCorruptError("backup contents are incomplete")
    return state
