"""The holder's wallet: one directory, encrypted at rest, safe against a crash mid-write.

Layout (every ``.enc`` file sealed by :mod:`wallet_sdk._seal`, bound to its name and this wallet)::

    wallet.json        header: format, wallet id, scrypt parameters and salt, the wrapped data key
    index.enc          one entry per credential (type, issuer, copy profiles, spent copies, last status)
    creds/<id>.enc     one credential with its holder keys, CP1 copies and anchor proofs (written once,
                       rewritten only to add anchor proofs)
    log.enc            the holder's presentation history
    lock               advisory lock taken by writers (``fcntl.flock``), so two processes do not interleave

Opening reads the header and the index only, so a wallet with a thousand credentials opens in
milliseconds after the KDF; a credential's blob is decrypted when it is used. The index is the commit
point: a new credential's blob is written first and becomes visible when the index names it; a spent
copy is recorded in the index (fsync'd) before its QR is returned. Leftover temporary files and blobs
the index does not name are what a crash leaves behind; they are ignored and swept by the next writer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from credcore.errors import CredError
from credcore.keys import parse_json_object
from wallet_sdk._seal import (
    DEFAULT_KDF,
    TMP_MARK,
    ScryptParams,
    atomic_write,
    open_blob,
    seal_blob,
    unwrap_key,
    wrap_key,
)
from wallet_sdk.errors import (
    NoUnusedCopyError,
    WalletCorruptError,
    WalletExistsError,
    WalletNotFoundError,
)
from wallet_sdk.records import CopyRef, CredentialSummary, LogEntry, SdJwtRef, StoredCredential

__all__ = ["FORMAT", "Wallet"]

FORMAT: Final = "civicpass-wallet"
_VERSION: Final = 1
_HEADER: Final = "wallet.json"
_INDEX: Final = "index.enc"
_LOG: Final = "log.enc"
_CREDS: Final = "creds"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _header_aad(wallet_id: str, kdf: ScryptParams) -> bytes:
    return b"civicpass-wallet/1|" + wallet_id.encode() + b"|" + _dumps(kdf.to_json())


def _new_id() -> str:
    return secrets.token_hex(6)


class Wallet:
    """An open wallet. Build with :meth:`create` or :meth:`open`; every method persists before returning."""

    def __init__(self, path: Path, wallet_id: str, data_key: bytes) -> None:
        self.path = path
        self.wallet_id = wallet_id
        self._key = data_key
        self._index: dict[str, CredentialSummary] = {}

    # --- lifecycle -----------------------------------------------------------------------------------
    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / _HEADER).is_file()

    @classmethod
    def create(cls, path: str | Path, passphrase: str, *, kdf: ScryptParams = DEFAULT_KDF) -> Wallet:
        """Create an empty wallet in ``path`` (a new or empty directory).

        The header is written last: it is what makes the directory a wallet, so a crash during creation
        leaves no half-wallet behind, only files a second ``create`` may overwrite.
        """
        root = Path(path)
        leftovers = {_INDEX, _LOG, _CREDS, "lock"}
        if cls.exists(root) or (root.is_dir() and any(p.name not in leftovers for p in root.iterdir())):
            raise WalletExistsError("the directory already holds a wallet or other files")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / _CREDS).mkdir(exist_ok=True, mode=0o700)
        wallet = cls(root, _new_id(), secrets.token_bytes(32))
        wallet._write_index()
        wallet._seal_to(_LOG, _dumps([]))
        wallet._write_header(passphrase, kdf.with_new_salt())
        return wallet

    @classmethod
    def open(cls, path: str | Path, passphrase: str) -> Wallet:
        """Open the wallet in ``path``.

        Raises:
            WrongPassphraseError: the passphrase does not unwrap the data key.
            WalletNotFoundError: no wallet header in ``path``.
            WalletCorruptError: a file is truncated, altered or not of this wallet.
        """
        root = Path(path)
        try:
            raw = (root / _HEADER).read_bytes()
        except FileNotFoundError:
            raise WalletNotFoundError("no wallet in that directory") from None
        try:
            header = parse_json_object(raw, "wallet header")
        except CredError:
            raise WalletCorruptError("wallet header is not readable") from None
        if header.get("format") != FORMAT or header.get("version") != _VERSION:
            raise WalletCorruptError("not a civicpass wallet of a version this library reads")
        wallet_id, wrapped = header.get("wallet_id"), header.get("key")
        if not isinstance(wallet_id, str) or not isinstance(wrapped, str):
            raise WalletCorruptError("wallet header is incomplete")
        kdf = ScryptParams.from_json(header.get("kdf"))
        data_key = unwrap_key(kdf.derive(passphrase), wrapped, _header_aad(wallet_id, kdf))
        wallet = cls(root, wallet_id, data_key)
        wallet._load_index()
        return wallet

    def change_passphrase(self, new_passphrase: str, *, kdf: ScryptParams = DEFAULT_KDF) -> None:
        """Re-wrap the data key under a new passphrase (one atomic header write; blobs are untouched)."""
        with self._locked():
            self._write_header(new_passphrase, kdf.with_new_salt())

    # --- reading ---------------------------------------------------------------------------------------
    def summaries(self) -> list[CredentialSummary]:
        return sorted(self._index.values(), key=lambda s: (s.received_at, s.id))

    def summary(self, credential_id: str) -> CredentialSummary:
        return self._index[self.resolve(credential_id)]

    def resolve(self, ref: str) -> str:
        """The full id for ``ref`` (an id or a unique prefix of one)."""
        if ref in self._index:
            return ref
        found = [cid for cid in self._index if cid.startswith(ref)] if ref else []
        if len(found) != 1:
            what = "no credential" if not found else "more than one credential"
            raise WalletNotFoundError(f"{what} matches that id")
        return found[0]

    def load(self, credential_id: str) -> StoredCredential:
        """Decrypt one credential with its keys and copies."""
        cid = self.resolve(credential_id)
        plain = self._open_from(f"{_CREDS}/{cid}.enc")
        record = StoredCredential.from_json(parse_json_object(plain, "credential record"))
        if record.id != cid:
            raise WalletCorruptError("credential record does not match its name")
        return record

    def history(self) -> list[LogEntry]:
        return [LogEntry.from_json(e) for e in self._read_log()]

    # --- writing ---------------------------------------------------------------------------------------
    def add(self, credential: StoredCredential) -> StoredCredential:
        """Store a new credential (its id is assigned here when empty). Blob first, then the index commits it."""
        with self._locked():
            cid = credential.id or _new_id()
            while not credential.id and cid in self._index:
                cid = _new_id()
            if credential.id and cid in self._index:
                raise WalletExistsError("a credential with that id is already stored")
            stored = _with_id(credential, cid)
            self._seal_to(f"{_CREDS}/{cid}.enc", _dumps(stored.to_json()))
            self._index[cid] = stored.summary()
            self._write_index()
            return stored

    def replace(self, credential: StoredCredential) -> None:
        """Rewrite a stored credential's blob (e.g. to add anchor proofs). Spent-copy marks are kept."""
        with self._locked():
            old = self._index.get(credential.id)
            if old is None:
                raise WalletNotFoundError("no credential matches that id")
            self._seal_to(f"{_CREDS}/{credential.id}.enc", _dumps(credential.to_json()))
            self._index[credential.id] = _merge(credential.summary(old.used), old)
            self._write_index()

    def refill(self, credential: StoredCredential) -> None:
        """Replace a stored credential's copies with a new batch (a refresh): every copy is unused again."""
        with self._locked():
            old = self._index.get(credential.id)
            if old is None:
                raise WalletNotFoundError("no credential matches that id")
            self._seal_to(f"{_CREDS}/{credential.id}.enc", _dumps(credential.to_json()))
            self._index[credential.id] = dataclasses.replace(
                credential.summary(), status=old.status, status_checked_at=old.status_checked_at
            )
            self._write_index()

    def remove(self, credential_id: str) -> None:
        with self._locked():
            cid = self.resolve(credential_id)
            del self._index[cid]
            self._write_index()
            with contextlib.suppress(FileNotFoundError):
                (self.path / _CREDS / f"{cid}.enc").unlink()

    def take_copy(self, credential_id: str, profile: str | None = None) -> CopyRef:
        """Spend one unused CP1 copy: the mark is on disk before the copy is returned, so it is never shown twice."""
        with self._locked():
            cid = self.resolve(credential_id)
            summary = self._index[cid]
            free = summary.unused(profile)
            if not free:
                raise NoUnusedCopyError(credential_id=cid, profile=profile or "")
            index = free[0]
            record = self.load(cid)
            self._index[cid] = dataclasses.replace(summary, used=summary.used | {index})
            self._write_index()
            return CopyRef(cid, index, record.copies[index], len(free) - 1)

    def take_sd_jwt(self, credential_id: str) -> SdJwtRef:
        """An SD-JWT VC copy to present. A credential received as a batch gives each copy once, marked spent on
        disk before it is returned (unlinkable single-use copies); one received as a single SD-JWT VC reuses it.

        Raises:
            NoUnusedCopyError: every copy of the batch was shown (refresh for a new batch).
        """
        with self._locked():
            cid = self.resolve(credential_id)
            summary = self._index[cid]
            record = self.load(cid)
            held = record.sd_jwts
            if not held:
                raise NoUnusedCopyError("this credential has no SD-JWT VC", credential_id=cid, profile="")
            if len(held) == 1:
                return SdJwtRef(cid, 0, held[0], 1)
            free = summary.unused_sd_jwts()
            if not free:
                raise NoUnusedCopyError(credential_id=cid, profile="sd-jwt")
            self._index[cid] = dataclasses.replace(summary, sd_jwt_used=summary.sd_jwt_used | {free[0]})
            self._write_index()
            return SdJwtRef(cid, free[0], held[free[0]], len(free) - 1)

    def record_status(self, credential_id: str, status: str, checked_at: int) -> None:
        with self._locked():
            cid = self.resolve(credential_id)
            self._index[cid] = dataclasses.replace(self._index[cid], status=status, status_checked_at=checked_at)
            self._write_index()

    def log(self, entry: LogEntry) -> None:
        with self._locked():
            entries = self._read_log()
            entries.append(entry.to_json())
            self._seal_to(_LOG, _dumps(entries))

    # --- export for backup ---------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Everything in the wallet, decrypted, for :mod:`wallet_sdk.backup`. Handle like the keys it holds."""
        return {
            "index": [s.to_json() for s in self.summaries()],
            "credentials": [self.load(s.id).to_json() for s in self.summaries()],
            "log": [e.to_json() for e in self.history()],
        }

    def import_state(self, state: dict[str, Any]) -> None:
        """Fill an empty wallet from :meth:`export_state` output (used by restore)."""
        with self._locked():
            if self._index:
                raise WalletExistsError("restore needs an empty wallet")
            for obj in state["credentials"]:
                record = StoredCredential.from_json(obj)
                self._seal_to(f"{_CREDS}/{record.id}.enc", _dumps(record.to_json()))
            for obj in state["index"]:
                summary = CredentialSummary.from_json(obj)
                self._index[summary.id] = summary
            self._write_index()
            self._seal_to(_LOG, _dumps([LogEntry.from_json(e).to_json() for e in state["log"]]))

    # --- internals -------------------------------------------------------------------------------------
    def _aad(self, name: str) -> bytes:
        return f"civicpass-wallet/1|{self.wallet_id}|{name}".encode()

    def _seal_to(self, name: str, plaintext: bytes) -> None:
        atomic_write(self.path / name, seal_blob(self._key, plaintext, self._aad(name)))

    def _open_from(self, name: str) -> bytes:
        try:
            blob = (self.path / name).read_bytes()
        except FileNotFoundError:
            raise WalletCorruptError(f"{name} is missing", file=name) from None
        return open_blob(self._key, blob, self._aad(name), name)

    def _read_log(self) -> list[Any]:
        entries = json.loads(self._open_from(_LOG))
        if not isinstance(entries, list):
            raise WalletCorruptError("history is malformed")
        return entries

    def _write_header(self, passphrase: str, kdf: ScryptParams) -> None:
        wrapped = wrap_key(kdf.derive(passphrase), self._key, _header_aad(self.wallet_id, kdf))
        header = {"format": FORMAT, "version": _VERSION, "wallet_id": self.wallet_id, "kdf": kdf.to_json()}
        atomic_write(self.path / _HEADER, json.dumps({**header, "key": wrapped}, indent=2).encode())

    def _load_index(self) -> None:
        doc = parse_json_object(self._open_from(_INDEX), "wallet index")
        entries = doc.get("credentials")
        if doc.get("wallet_id") != self.wallet_id or not isinstance(entries, list):
            raise WalletCorruptError("wallet index does not belong to this wallet")
        self._index = {s.id: s for s in (CredentialSummary.from_json(e) for e in entries)}

    def _write_index(self) -> None:
        doc = {"wallet_id": self.wallet_id, "credentials": [s.to_json() for s in self.summaries()]}
        self._seal_to(_INDEX, _dumps(doc))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize writers across processes, re-reading the index so no other writer's change is lost."""
        with (self.path / "lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._load_index()
                yield
                self._sweep()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _sweep(self) -> None:
        # Leftovers of a crashed writer: temporary files, and blobs whose index commit never happened.
        for p in [*self.path.glob(f"*{TMP_MARK}*"), *(self.path / _CREDS).glob(f"*{TMP_MARK}*")]:
            p.unlink(missing_ok=True)
        for p in (self.path / _CREDS).glob("*.enc"):
            if p.stem not in self._index:
                p.unlink(missing_ok=True)


def _with_id(c: StoredCredential, cid: str) -> StoredCredential:
    return dataclasses.replace(c, id=cid)


def _merge(new: CredentialSummary, old: CredentialSummary) -> CredentialSummary:
    return dataclasses.replace(new, used=old.used, status=old.status, status_checked_at=old.status_checked_at,
                               sd_jwt_used=old.sd_jwt_used)
