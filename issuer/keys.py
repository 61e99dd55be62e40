"""The issuer's signing keys: generated at first run, sealed at rest, rotated without breaking old credentials.

Sealing: scrypt (RFC 7914; n=2^15, r=8, p=1, a fresh 16-byte salt per key) derives a 256-bit key from
the configured passphrase, and AES-256-GCM encrypts the 32-byte private scalar with the key's RFC 7638
thumbprint as associated data, so a sealed blob cannot be swapped onto another key's row. Stored as
``salt || nonce || ciphertext+tag``. Keys are unsealed once at start and kept in memory.

Rotation never signs outside a window the chain holds (README, "Key rotation"): the new key is registered on
chain first (open-ended, from its block time); then one transaction here makes it the active key and closes the
old key's window at ``U`` = now + ``key_close_grace``; then the chain's window of the old key is closed at ``U`` or
later, never earlier. Every issuance checks, in the transaction that stores it, that its key's window is still
open at its ``iat`` and at the store time (:meth:`KeyRing.window_closed`), so a worker process that has not yet
seen the rotation re-signs with the new key instead of storing what the chain would refuse.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from credcore.errors import ConflictError, InvalidKeyError
from credcore.keys import PublicKey, SigningKey
from issuer.store.models import SigningKeyRow

__all__ = ["ActiveKey", "IssuerKeyInfo", "KeyRing", "derive_key", "seal", "unseal"]

_SCRYPT_N = 1 << 15


def _kek(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase)


def derive_key(passphrase: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose (the holder index, the desk's bulk results), from the key passphrase
    (HKDF-SHA256, RFC 5869)."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=f"civicpass desk {purpose}".encode()).derive(passphrase.encode())


def seal(key: SigningKey, passphrase: str) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    aad = key.public_key.thumbprint().encode("ascii")
    return salt + nonce + AESGCM(_kek(passphrase.encode(), salt)).encrypt(nonce, key.secret_bytes(), aad)


def unseal(blob: bytes, passphrase: str, thumbprint: str) -> SigningKey:
    """Open a sealed key; raises :class:`InvalidKeyError` on a wrong passphrase or a tampered blob."""
    salt, nonce, ct = blob[:16], blob[16:28], blob[28:]
    try:
        secret = AESGCM(_kek(passphrase.encode(), salt)).decrypt(nonce, ct, thumbprint.encode("ascii"))
    except InvalidTag:
        raise InvalidKeyError("signing key cannot be unsealed (wrong passphrase or altered key store)") from None
    key = SigningKey.from_secret("P-256", secret)
    if key.public_key.thumbprint() != thumbprint:
        raise InvalidKeyError("sealed signing key does not match its thumbprint")
    return key


@dataclass(frozen=True, slots=True)
class IssuerKeyInfo:
    thumbprint: str
    public_jwk: dict[str, str]
    valid_from: int
    valid_until: int | None
    active: bool
    on_chain: bool

    def to_json(self) -> dict[str, object]:
        return {
            "kid": self.thumbprint,
            "jwk": self.public_jwk,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "active": self.active,
            "on_chain": self.on_chain,
        }


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """The signing key at one moment: an issuance takes one and signs everything with it (no mid-way switch)."""

    key: SigningKey
    kid: str
    valid_from: int

    def signing_time(self, now: int) -> int:
        """The time to put in what this key signs (``iat``): never before the key's ``validFrom``.

        The chain sets ``validFrom`` to its block time, which can run a second or two ahead of this clock
        (several blocks mined in one second); a signature dated before it would never verify.
        """
        return max(now, self.valid_from)


def _info(row: SigningKeyRow) -> IssuerKeyInfo:
    return IssuerKeyInfo(
        row.thumbprint, json.loads(row.public_jwk), row.valid_from, row.valid_until, row.active, row.on_chain
    )


class KeyRing:
    """The active signing key plus every earlier key's public half (for status lists and key listings)."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._current: ActiveKey | None = None

    @property
    def current(self) -> ActiveKey:
        """The active key as one value: read it once per issuance (a rotation swaps it whole)."""
        if self._current is None:
            raise ConflictError("issuer has no active signing key")
        return self._current

    @property
    def active(self) -> SigningKey:
        return self.current.key

    @property
    def active_kid(self) -> str:
        return "" if self._current is None else self._current.kid

    def signing_time(self, now: int) -> int:
        return self.current.signing_time(now)

    def note_valid_from(self, kid: str, valid_from: int) -> None:
        """The chain fixed ``kid``'s ``validFrom`` (at registration)."""
        current = self._current
        if current is not None and kid == current.kid:
            self._current = ActiveKey(current.key, kid, valid_from)

    def load(self, session: Session, *, now: int) -> bool:
        """Unseal the active key, generating and storing one on first run. True if a key was created."""
        row = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True))).first()
        if row is None:
            self._add(session, SigningKey.generate("P-256"), valid_from=now, on_chain=False)
            return True
        self._set(row)
        return False

    def refresh(self, session: Session) -> None:
        """Pick up a rotation made by another worker process."""
        row = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True))).first()
        if row is not None:
            self._set(row)

    def _set(self, row: SigningKeyRow) -> None:
        current = self._current
        if current is not None and current.kid == row.thumbprint:
            key = current.key
        else:
            key = unseal(row.sealed_secret, self._passphrase, row.thumbprint)
        self._current = ActiveKey(key, row.thumbprint, row.valid_from)

    @staticmethod
    def window_closed(conn: Connection, kid: str, *, at: int) -> bool:
        """Has ``kid``'s window been closed at or before ``at``? Read in the transaction that stores a signature."""
        until = conn.execute(select(SigningKeyRow.valid_until).where(SigningKeyRow.thumbprint == kid)).scalar()
        return until is not None and at >= until

    def rotate(
        self, session: Session, new_key: SigningKey, *, valid_from: int, old_until: int
    ) -> tuple[IssuerKeyInfo, IssuerKeyInfo | None]:
        """Make ``new_key`` (on chain from ``valid_from``) the active key and close the old one at ``old_until``.

        Returns (new, old). The row lock orders concurrent rotations; the caller commits.
        """
        old = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True)).with_for_update()).first()
        if old is not None:
            old.active, old.valid_until = False, old_until
        session.flush()
        new = self._add(session, new_key, valid_from=valid_from, on_chain=True)
        return new, (_info(old) if old is not None else None)

    def _add(self, session: Session, key: SigningKey, *, valid_from: int, on_chain: bool) -> IssuerKeyInfo:
        kid = key.public_key.thumbprint()
        row = SigningKeyRow(
            thumbprint=kid,
            public_jwk=json.dumps(key.public_key.to_jwk()),
            sealed_secret=seal(key, self._passphrase),
            created_at=valid_from,
            valid_from=valid_from,
            valid_until=None,
            active=True,
            on_chain=on_chain,
        )
        session.add(row)
        session.flush()
        self._current = ActiveKey(key, kid, valid_from)
        return _info(row)

    @staticmethod
    def all_keys(session: Session) -> list[IssuerKeyInfo]:
        q = select(SigningKeyRow).order_by(SigningKeyRow.created_at, SigningKeyRow.active)
        return [_info(r) for r in session.scalars(q)]

    @staticmethod
    def closed_keys(session: Session) -> list[tuple[str, int]]:
        """(kid, valid_until) of every key whose window the issuer closed (the chain must hold it to at least that)."""
        q = select(SigningKeyRow.thumbprint, SigningKeyRow.valid_until).where(SigningKeyRow.valid_until.is_not(None))
        return [(kid, int(until)) for kid, until in session.execute(q)]

    @staticmethod
    def public_key(session: Session, kid: str) -> PublicKey | None:
        row = session.get(SigningKeyRow, kid)
        return None if row is None else PublicKey.from_jwk(json.loads(row.public_jwk))
