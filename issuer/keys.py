"""The issuer's signing keys: generated at first run, sealed at rest, rotated without breaking old credentials.

Sealing: scrypt (RFC 7914; n=2^15, r=8, p=1, a fresh 16-byte salt per key) derives a 256-bit key from
the configured passphrase, and AES-256-GCM encrypts the 32-byte private scalar with the key's RFC 7638
thumbprint as associated data, so a sealed blob cannot be swapped onto another key's row. Stored as
``salt || nonce || ciphertext+tag``. Keys are unsealed once at start and kept in memory.

Rotation: the new key becomes active when the chain's ``rotateKey`` took effect (its block time); the old one
gets ``valid_until`` = that time and keeps verifying what it signed earlier (TrustRegistry windows mean
"valid when issued"). The chain comes first: a rotation the chain did not accept changes nothing here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from credcore.errors import ConflictError, InvalidKeyError
from credcore.keys import PublicKey, SigningKey
from issuer.store.models import SigningKeyRow

__all__ = ["IssuerKeyInfo", "KeyRing", "seal", "unseal"]

_SCRYPT_N = 1 << 15


def _kek(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase)


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


def _info(row: SigningKeyRow) -> IssuerKeyInfo:
    return IssuerKeyInfo(
        row.thumbprint, json.loads(row.public_jwk), row.valid_from, row.valid_until, row.active, row.on_chain
    )


class KeyRing:
    """The active signing key plus every earlier key's public half (for status lists and key listings)."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._active: SigningKey | None = None
        self._active_kid = ""
        self._active_valid_from = 0

    @property
    def active(self) -> SigningKey:
        if self._active is None:
            raise ConflictError("issuer has no active signing key")
        return self._active

    @property
    def active_kid(self) -> str:
        return self._active_kid

    def signing_time(self, now: int) -> int:
        """The time to put in what the active key signs (``iat``): never before the key's ``validFrom``.

        The chain sets ``validFrom`` to its block time, which can run a second or two ahead of this clock
        (several blocks mined in one second); a signature dated before it would never verify.
        """
        return max(now, self._active_valid_from)

    def note_valid_from(self, kid: str, valid_from: int) -> None:
        """The chain fixed ``kid``'s ``validFrom`` (at registration)."""
        if kid == self._active_kid:
            self._active_valid_from = valid_from

    def load(self, session: Session, *, now: int) -> bool:
        """Unseal the active key, generating and storing one on first run. True if a key was created."""
        row = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True))).first()
        if row is None:
            self._add(session, SigningKey.generate("P-256"), now=now)
            return True
        self._active, self._active_kid = unseal(row.sealed_secret, self._passphrase, row.thumbprint), row.thumbprint
        self._active_valid_from = row.valid_from
        return False

    def refresh(self, session: Session) -> None:
        """Pick up a rotation made by another worker process."""
        row = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True))).first()
        if row is None:
            return
        if row.thumbprint != self._active_kid:
            self._active, self._active_kid = unseal(row.sealed_secret, self._passphrase, row.thumbprint), row.thumbprint
        self._active_valid_from = row.valid_from

    def rotate(
        self, session: Session, new_key: SigningKey, *, at: int, on_chain: bool
    ) -> tuple[IssuerKeyInfo, IssuerKeyInfo | None]:
        """Make ``new_key`` the active key from ``at``; the old one stops at ``at``. Returns (new, old)."""
        old = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True)).with_for_update()).first()
        if old is not None:
            old.active, old.valid_until = False, at
        session.flush()
        new = self._add(session, new_key, now=at, on_chain=on_chain)
        return new, (_info(old) if old is not None else None)

    def _add(self, session: Session, key: SigningKey, *, now: int, on_chain: bool = False) -> IssuerKeyInfo:
        kid = key.public_key.thumbprint()
        row = SigningKeyRow(
            thumbprint=kid,
            public_jwk=json.dumps(key.public_key.to_jwk()),
            sealed_secret=seal(key, self._passphrase),
            created_at=now,
            valid_from=now,
            valid_until=None,
            active=True,
            on_chain=on_chain,
        )
        session.add(row)
        session.flush()
        self._active, self._active_kid, self._active_valid_from = key, kid, now
        return _info(row)

    @staticmethod
    def all_keys(session: Session) -> list[IssuerKeyInfo]:
        return [_info(r) for r in session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))]

    @staticmethod
    def public_key(session: Session, kid: str) -> PublicKey | None:
        row = session.get(SigningKeyRow, kid)
        return None if row is None else PublicKey.from_jwk(json.loads(row.public_jwk))
