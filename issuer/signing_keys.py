"""SigningKeys: the issuer's signing keys as the chain must see them, registered, rotated and closed.

A credential signed by a key the chain does not know could never verify, so issuance waits (retryable
refusal) until the active key is registered; registering and closing windows on chain are best effort at
start and after a rotation, and the worker retries what is left. The keys themselves, sealed at rest, are
issuer/keys.py's :class:`~issuer.keys.KeyRing`, shared with issuance and status list signing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from credcore.errors import ChainUnavailableError
from credcore.keys import PublicKey, SigningKey
from credcore.ports import Clock
from issuer import audit
from issuer.anchoring import ChainGateway
from issuer.issuance import KeyWindowClosedError
from issuer.keys import ActiveKey, IssuerKeyInfo, KeyRing
from issuer.settings import IssuerSettings
from issuer.store.models import SigningKeyRow

__all__ = ["SigningKeys"]

_T = TypeVar("_T")


class SigningKeys:
    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        ring: KeyRing,
        *,
        clock: Clock,
        chain: ChainGateway | None,
        log: Callable[[str], None],
        on_rotated: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self.ring = ring
        self._clock = clock
        self._chain = chain
        self._log = log
        #: Lists signed by the old key are signed again after a rotation (the status publisher's job).
        self._on_rotated = on_rotated
        self._on_chain = chain is None
        # A gateway that reads our accredited identifier from the chain must have done so before we sign.
        self._identifier_loaded = not hasattr(chain, "load_identifier")
        self._closing_pending = chain is not None  # checked once at start: a crash may have come between steps

    def register(self) -> None:
        """Register keys not yet on chain (first run, or the chain was down then). Best effort; workers retry.

        The chain sets the key's ``validFrom`` to its block time (it refuses windows in the past), and that
        time is copied back, so the issuer's key list matches what verifiers see.
        """
        if self._chain is None:
            self._on_chain = True
            return
        if not self._identifier_loaded:
            try:
                self._chain.load_identifier()  # type: ignore[attr-defined]
                self._identifier_loaded = True
            except Exception as exc:
                self._log(f"reading our accredited identifier failed ({type(exc).__name__}); will retry")
                self._on_chain = False
                return
        # Chain calls outside any transaction: on SQLite a transaction holds the write lock issuance needs.
        with self._sessions() as session:
            waiting = session.execute(select(SigningKeyRow.thumbprint, SigningKeyRow.public_jwk)
                                      .where(SigningKeyRow.on_chain.is_(False))).all()
        for kid, jwk in waiting:
            try:
                receipt = self._chain.add_key(PublicKey.from_jwk(json.loads(jwk)))
            except Exception as exc:
                self._log(f"key registration failed ({type(exc).__name__}); will retry")
                break
            with self._sessions.begin() as session:
                row = session.get(SigningKeyRow, kid)
                assert row is not None
                row.on_chain = True
                if receipt.timestamp is not None:
                    row.valid_from = receipt.timestamp
                    self.ring.note_valid_from(row.thumbprint, receipt.timestamp)
        with self._sessions() as session:
            active = session.scalars(select(SigningKeyRow).where(SigningKeyRow.active.is_(True))).first()
            self._on_chain = active is not None and active.on_chain

    def refresh(self) -> None:
        """Pick up a rotation another process made."""
        with self._sessions() as session:
            self.ring.refresh(session)

    def retry_pending(self) -> None:
        """Finish what the chain refused earlier: registering the active key, closing old keys' windows."""
        if not self._on_chain:
            self.register()
        if self._closing_pending:
            self.close_on_chain()

    def require_registered(self) -> None:
        # A credential signed by a key the chain does not know yet could never verify: refuse (retryable).
        if not self._on_chain:
            raise ChainUnavailableError("the signing key is not registered on chain yet; retry shortly")

    def with_signing_key(self, attempt: Callable[[ActiveKey], _T]) -> _T:
        """Run ``attempt`` with the active key; if a rotation closed that key's window first (another process
        rotated), pick up the new key and sign again."""
        for _ in range(3):
            try:
                return attempt(self.ring.current)
            except KeyWindowClosedError:
                self.refresh()
        raise KeyWindowClosedError("the signing key changed during issuance; retry")

    def all(self) -> list[IssuerKeyInfo]:
        with self._sessions() as session:
            return KeyRing.all_keys(session)

    def rotate(self, actor: str) -> IssuerKeyInfo:
        """New signing key, without a moment where the issuer signs outside a window the chain holds.

        1. the chain registers the new key (open-ended, from its block time); if it cannot, nothing changes (503);
        2. one transaction here makes it the active key and closes the old key's window at
           ``U = max(now, validFrom) + key_close_grace`` (issuances store only while ``iat`` and their store
           time are before ``U``, checked in their own transaction, so they sign again with the new key after);
        3. the chain's window of the old key is closed at ``U`` or later (retried by the worker until it is).
        """
        new_key = SigningKey.generate("P-256")
        valid_from = self._clock.now()
        if self._chain is not None:
            try:
                receipt = self._chain.add_key(new_key.public_key)
            except Exception as exc:
                raise ChainUnavailableError(f"key rotation not accepted by the chain ({type(exc).__name__})") from None
            valid_from = receipt.timestamp if receipt.timestamp is not None else valid_from
        until = max(self._clock.now(), valid_from) + self._settings.key_close_grace
        try:
            with self._sessions.begin() as session:
                new, old = self.ring.rotate(session, new_key, valid_from=valid_from, old_until=until)
                audit.append(session, at=self._clock.now(), actor=actor, action="key.rotated", target=new.thumbprint,
                             details={"previous": old.thumbprint if old else None})
        except Exception:
            self.refresh()
            raise
        self._on_chain = True
        self._closing_pending = True
        self.close_on_chain()
        self._on_rotated()
        return new

    def close_on_chain(self) -> None:
        """Make the chain end every key the issuer closed, at that end or later. Best effort; workers retry."""
        if self._chain is None:
            self._closing_pending = False
            return
        with self._sessions() as session:
            closed = KeyRing.closed_keys(session)
        for kid, until in closed:
            try:
                self._chain.close_key(kid, until)
            except Exception as exc:
                self._log(f"closing key window on chain failed ({type(exc).__name__}); will retry")
                return
        self._closing_pending = False
