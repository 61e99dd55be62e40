"""Encryption at rest and crash-safe files: the wallet's only hand-written storage plumbing.

Key hierarchy: the passphrase goes through scrypt (RFC 7914, memory-hard) to a key-encryption key that
wraps one random 256-bit data key with AES-GCM. Every file is sealed with the data key under AES-GCM
with a fresh 96-bit nonce and associated data naming the wallet and the file, so a blob cannot be moved
to another name or wallet without failing authentication. Wrapping (rather than deriving the data key
directly) lets a backup or a new passphrase re-wrap without re-encrypting every blob.

Files are replaced atomically (write a temporary file, fsync it, ``os.replace``, fsync the directory):
after a crash a reader sees either the old or the new content, never a mix (POSIX rename semantics).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError
from wallet_sdk.errors import WalletCorruptError, WrongPassphraseError

__all__ = [
    "BLOB_MAGIC",
    "DEFAULT_KDF",
    "MAX_KDF_MEMORY",
    "MAX_KDF_WORK",
    "TMP_MARK",
    "ScryptParams",
    "atomic_write",
    "open_blob",
    "seal_blob",
    "unwrap_key",
    "wrap_key",
]

BLOB_MAGIC: Final = b"CPW1"
_NONCE: Final = 12
TMP_MARK: Final = ".tmp-"


#: Ceilings on what a wallet or backup header may ask of scrypt: twice the default's memory (128 MiB), four
#: times its work (N * r * p = 2^20).
MAX_KDF_MEMORY: Final = 256 * 1024 * 1024
MAX_KDF_WORK: Final = 4 * 2**20


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost. The default (N=2^17, r=8, p=1: 128 MiB of memory) follows OWASP's password storage advice."""

    n: int = 2**17
    r: int = 8
    p: int = 1
    salt: bytes = b""

    def check(self) -> None:
        # The bounds protect opening and restoring from a crafted header: each parameter alone within range
        # still let N=2^20, r=32, p=16 through, 4 GiB and minutes of work. What is read must cost at most
        # twice the default's memory (128 * N * r bytes) and four times its work (N * r * p).
        n_ok = 2**10 <= self.n <= 2**20 and self.n & (self.n - 1) == 0
        if not (n_ok and 1 <= self.r <= 32 and 1 <= self.p <= 16 and len(self.salt) >= 16):
            raise WalletCorruptError("key derivation parameters are out of bounds")
        if 128 * self.n * self.r > MAX_KDF_MEMORY or self.n * self.r * self.p > MAX_KDF_WORK:
            raise WalletCorruptError(
                f"key derivation parameters ask for more than this SDK allows (N={self.n}, r={self.r}, p={self.p}; "
                f"at most {MAX_KDF_MEMORY >> 20} MiB and {MAX_KDF_WORK // 2**20}x the default's work)")

    def with_new_salt(self) -> ScryptParams:
        return ScryptParams(self.n, self.r, self.p, secrets.token_bytes(16))

    def derive(self, passphrase: str) -> bytes:
        self.check()
        if not passphrase:
            raise WrongPassphraseError("an empty passphrase is not accepted")
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        kdf = Scrypt(salt=self.salt, length=32, n=self.n, r=self.r, p=self.p)
        return kdf.derive(secret)

    def to_json(self) -> dict[str, Any]:
        return {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": b64u_encode(self.salt)}

    @classmethod
    def from_json(cls, obj: object) -> ScryptParams:
        if not isinstance(obj, dict) or obj.get("name") != "scrypt":
            raise WalletCorruptError("unknown key derivation")
        n, r, p, salt = obj.get("n"), obj.get("r"), obj.get("p"), obj.get("salt")
        if not (isinstance(n, int) and isinstance(r, int) and isinstance(p, int) and isinstance(salt, str)):
            raise WalletCorruptError("key derivation parameters are malformed")
        try:
            params = cls(n, r, p, b64u_decode(salt))
        except MalformedInputError:
            raise WalletCorruptError("key derivation salt is malformed") from None
        params.check()
        return params


DEFAULT_KDF: Final = ScryptParams()


def wrap_key(kek: bytes, data_key: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE)
    return b64u_encode(nonce + AESGCM(kek).encrypt(nonce, data_key, aad))


def unwrap_key(kek: bytes, wrapped: str, aad: bytes) -> bytes:
    """Unwrap the data key; an authentication failure means the passphrase is wrong (or the header altered)."""
    try:
        raw = b64u_decode(wrapped)
        key = AESGCM(kek).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (InvalidTag, MalformedInputError, ValueError):
        raise WrongPassphraseError() from None
    if len(key) != 32:
        raise WalletCorruptError("wrapped key has the wrong length")
    return key


def seal_blob(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return BLOB_MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def open_blob(data_key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    """Decrypt a sealed file. Truncated, altered or misplaced content raises :class:`WalletCorruptError`."""
    if len(blob) < len(BLOB_MAGIC) + _NONCE + 16 or not blob.startswith(BLOB_MAGIC):
        raise WalletCorruptError(f"{what} is truncated or not a wallet file", file=what)
    body = blob[len(BLOB_MAGIC) :]
    try:
        return AESGCM(data_key).decrypt(body[:_NONCE], body[_NONCE:], aad)
    except InvalidTag:
        raise WalletCorruptError(f"{what} is damaged or was altered", file=what) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash at any point leaves the old or the new file whole."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
