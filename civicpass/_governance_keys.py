"""Key files of ``civicpass governance``: a member's BLS key and the paying account, both sealed with a passphrase.

A member key file keeps the public key and its proof of possession in the clear (they are handed to the
consortium anyway) and the secret sealed the way the issuer and the wallet seal theirs: scrypt (RFC 7914,
memory-hard; N=2^17, r=8, p=1 by default, a fresh salt per file) derives a 256-bit key from the passphrase, and
AES-256-GCM encrypts the 32-byte secret with the file's format and public key as associated data, so a sealed
secret cannot be moved onto another public key. The paying account is a standard Ethereum keystore (Web3 Secret
Storage, scrypt) read and written by eth-account, so any Ethereum tool can make or open it.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import sys
import unicodedata
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError

MEMBER_KEY_FORMAT = "civicpass-governance-member-key/2"
_SCRYPT_N = 1 << 17
_FAST_SCRYPT_N = 1 << 10  # tests only (--insecure-fast-kdf)
_PASSPHRASE_ENV = "CIVICPASS_GOVERNANCE_PASSPHRASE"  # noqa: S105 (a variable's name, not a secret)
ACCOUNT_PASSPHRASE_ENV = "CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE"  # noqa: S105


class KeyFileError(MalformedInputError):
    code = "governance_key_file_invalid"
    title = "Not a usable governance key file"


class WrongPassphraseError(MalformedInputError):
    code = "governance_wrong_passphrase"
    title = "Wrong passphrase, or the key file was altered"


class PassphraseMissingError(MalformedInputError):
    code = "governance_passphrase_missing"
    title = "No passphrase given, and no terminal to ask on"


class PassphraseMismatchError(MalformedInputError):
    code = "governance_passphrases_differ"
    title = "The passphrase and its repetition differ"


class EmptyPassphraseError(MalformedInputError):
    code = "governance_passphrase_empty"
    title = "An empty passphrase is not accepted"


# --- passphrases ---------------------------------------------------------------------------------------------
def passphrase(file: Path | None, *, env: str = _PASSPHRASE_ENV, what: str, confirm: bool = False) -> str:
    """From ``file``, else the environment variable ``env``, else a prompt on the terminal (twice when new)."""
    if file is not None:
        text = file.read_text(encoding="utf-8").rstrip("\r\n")
    elif os.environ.get(env):
        text = os.environ[env]
    elif sys.stdin.isatty():
        text = getpass.getpass(f"passphrase for {what}: ")
        if confirm and getpass.getpass("again: ") != text:
            raise PassphraseMismatchError("the two passphrases differ")
    else:
        option = "--account-passphrase-file" if env == ACCOUNT_PASSPHRASE_ENV else "--passphrase-file"
        raise PassphraseMissingError(f"no passphrase for {what}: pass {option} FILE or set {env}")
    if not text:
        raise EmptyPassphraseError(f"an empty passphrase is not accepted for {what}")
    return unicodedata.normalize("NFC", text)


def write_private(path: Path, doc: dict[str, Any]) -> None:
    """Create ``path`` with mode 0600; never overwrite (a key file lost is a member or an account lost)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2) + "\n")


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise MalformedInputError(f"{path} is not JSON (expected {what})") from None
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{path} is not a JSON object (expected {what})")
    return doc


# --- member keys ---------------------------------------------------------------------------------------------
def _kek(secret: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(secret.encode("utf-8"))


def _aad(public_key: bytes) -> bytes:
    return MEMBER_KEY_FORMAT.encode() + b"|" + public_key


def seal_member_key(sk: int, secret: str, *, fast: bool = False) -> dict[str, Any]:
    from credcore import bls

    pk = bls.public_key(sk)
    n, salt, nonce = (_FAST_SCRYPT_N if fast else _SCRYPT_N), secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_kek(secret, salt, n)).encrypt(nonce, sk.to_bytes(32, "big"), _aad(pk))
    return {
        "format": MEMBER_KEY_FORMAT,
        "public_key": pk.hex(),
        "proof_of_possession": bls.prove_possession(sk).hex(),
        "kdf": {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": b64u_encode(salt)},
        "sealed_secret": b64u_encode(nonce + sealed),
    }


def member_card(doc: dict[str, Any], where: str) -> tuple[bytes, bytes]:
    """(public key, proof of possession) from a member key file or a ``{public_key, proof_of_possession}`` card."""
    try:
        return bytes.fromhex(doc["public_key"]), bytes.fromhex(doc["proof_of_possession"])
    except (KeyError, TypeError, ValueError):
        raise KeyFileError(f"{where} has no public_key and proof_of_possession in hex") from None


def open_member_key(doc: dict[str, Any], secret: str, where: str) -> int:
    """The BLS secret of a sealed member key file; refuses plaintext files and wrong passphrases."""
    from credcore import bls

    if "secret_key" in doc:
        raise KeyFileError(f"{where} holds its secret in plaintext (an older key file format)", plaintext=True)
    if doc.get("format") != MEMBER_KEY_FORMAT:
        raise KeyFileError(f"{where} is not a civicpass governance member key file")
    pk, _ = member_card(doc, where)
    try:
        kdf = doc["kdf"]
        n, salt, blob = int(kdf["n"]), b64u_decode(kdf["salt"]), b64u_decode(doc["sealed_secret"])
    except (KeyError, TypeError, ValueError, MalformedInputError):
        raise KeyFileError(f"{where} lacks its sealed secret or key derivation parameters") from None
    if kdf.get("name") != "scrypt" or not (2**10 <= n <= 2**20 and n & (n - 1) == 0) or len(salt) < 16:
        raise KeyFileError(f"{where} asks for key derivation parameters out of bounds")
    try:
        raw = AESGCM(_kek(secret, salt, n)).decrypt(blob[:12], blob[12:], _aad(pk))
    except (InvalidTag, ValueError):
        raise WrongPassphraseError(f"cannot open {where}: wrong passphrase, or the file was altered") from None
    sk = int.from_bytes(raw, "big")
    if bls.public_key(sk) != pk:
        raise KeyFileError(f"{where}: the sealed secret does not belong to its public key")
    return sk


def plaintext_member_secret(doc: dict[str, Any], where: str) -> int:
    """The secret of an older, unsealed member key file (for ``keygen --import``)."""
    from credcore import bls

    try:
        sk = int(doc["secret_key"], 16)
        pk = bytes.fromhex(doc["public_key"])
    except (KeyError, TypeError, ValueError):
        raise KeyFileError(f"{where} is not a plaintext member key file") from None
    if bls.public_key(sk) != pk:
        raise KeyFileError(f"{where}: the secret does not belong to its public key")
    return sk


# --- paying accounts (Ethereum keystore) -----------------------------------------------------------------------
def seal_account(private_key: bytes, secret: str, *, fast: bool = False) -> dict[str, Any]:
    from eth_account import Account

    keystore: dict[str, Any] = Account.encrypt(private_key, secret, kdf="scrypt",
                                               iterations=_FAST_SCRYPT_N if fast else None)
    return keystore


def open_account(path: Path, secret: str) -> Any:
    """The LocalAccount of an Ethereum keystore file."""
    from eth_account import Account

    doc = read_json(path, "an Ethereum keystore")
    if "crypto" not in doc and "Crypto" not in doc:
        raise KeyFileError(f"{path} is not an Ethereum keystore (no crypto section)")
    try:
        key = Account.decrypt(doc, secret)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassphraseError(f"cannot open {path}: wrong passphrase, or the file was altered") from None
        raise KeyFileError(f"{path} is not a usable Ethereum keystore") from None
    except (KeyError, TypeError):
        raise KeyFileError(f"{path} is not a usable Ethereum keystore") from None
    return Account.from_key(key)
