"""Publishing status lists: sign a ``statuslist+jwt`` for each changed list and put its digest on chain.

Publishes at most once every ``status_publish_interval`` seconds (P), so many revocations cost one signature
and one transaction per list. The interval is a rate limit, not a clock: after a quiet spell a change goes
out at once (the worker is woken by revocations), and one that comes soon after a publication goes out
when P has passed since it, measured on a monotonic timer, never later. So a revocation reaches the chain
within P plus one block. The list served at ``/status-lists/{id}`` is always the last one whose digest the
chain accepted (when a chain is configured): serving a newer JWT before the chain has it would make
verifiers reject it; serving an older one is what the chain digest exists to catch. The newest signed list
(signed with each status change, before its digest is on chain) is served at ``/status-lists/{id}/latest``:
verifiers take only stricter statuses from it until the chain confirms it. The list being published is put there
before its digest is sent, so a verifier that sees the digest at once finds the list at one of the two.
A list is also re-signed when half its validity has passed, and after a key rotation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock
from credcore.status_list import sign_status_list_jwt, status_list_digest
from issuer.anchoring import ChainGateway
from issuer.issuance import KeyWindowClosedError
from issuer.keys import KeyRing
from issuer.settings import IssuerSettings
from issuer.status import build_list
from issuer.store.models import StatusListRow

__all__ = ["Publishing", "StatusPublisher", "sign_list_jwt"]


class Publishing(Protocol):
    """What signing and publishing lists take from the issuer (issuer/status_lists.py's StatusLists has it all),
    so this module does not import the service that builds it."""

    settings: IssuerSettings
    sessions: sessionmaker[Session]
    clock: Clock
    ring: KeyRing
    chain: ChainGateway | None
    log: Callable[[str], None]

    def status_uri(self, list_id: int) -> str: ...


def sign_list_jwt(service: Publishing, session: Session, list_id: int, *, now: int) -> str:
    """The list's current bits as a ``statuslist+jwt`` signed by the active key (``kid`` = its thumbprint).

    As for credentials, a key another process rotated out is noticed here and the list signed with the new one.
    """
    for _ in range(3):
        signer = service.ring.current
        iat = signer.signing_time(now)
        if not KeyRing.window_closed(session.connection(), signer.kid, at=max(iat, service.clock.now())):
            return sign_status_list_jwt(
                build_list(session, list_id),
                uri=service.status_uri(list_id),
                signer=signer.key,
                iat=iat,
                exp=iat + service.settings.status_list_validity,
                ttl=max(1, int(service.settings.status_publish_interval)),
            )
        service.ring.refresh(session)
    raise KeyWindowClosedError("the signing key changed while signing a status list")


class StatusPublisher:
    def __init__(self, service: Publishing, *, interval: float,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._interval = interval
        self._timer = timer
        self._last: float | None = None  # timer() when a round last published something

    def seconds_until_allowed(self) -> float:
        """How long until the rate limit lets the next publication out (0: now)."""
        return 0.0 if self._last is None else max(0.0, self._last + self._interval - self._timer())

    def republish_all(self) -> None:
        """Mark every list for re-signing (after a key rotation)."""
        with self._service.sessions.begin() as session:
            session.execute(update(StatusListRow).values(published_version=0))

    def run_once(self, now: int, *, force: bool = False) -> int:
        if not force and self.seconds_until_allowed() > 0:
            return 0
        half = self._service.settings.status_list_validity // 2
        with self._service.sessions() as session:
            due = session.scalars(
                select(StatusListRow.id).where(
                    or_(
                        StatusListRow.version > StatusListRow.published_version,
                        StatusListRow.jwt_exp.is_(None),
                        StatusListRow.jwt_exp - half <= now,
                    )
                )
            ).all()
        if not due:
            return 0  # nothing changed: the rate limit does not start
        self._last = self._timer()
        return sum(self.publish(list_id, now=now) for list_id in due)

    def publish(self, list_id: int, *, now: int) -> int:
        service = self._service
        with service.sessions() as session:
            row = session.get(StatusListRow, list_id)
            if row is None:
                return 0
            version = row.version
            token = sign_list_jwt(service, session, list_id, now=now)
        if service.chain is not None:
            # Served before its digest goes to the chain: once the transaction lands a verifier syncing at once
            # finds this token at ``/latest`` while ``/status-lists/{id}`` still serves the previous list (so every
            # moment one of the two matches the chain's digest). A newer change signed meanwhile keeps its place.
            with service.sessions.begin() as session:
                row = session.get(StatusListRow, list_id, with_for_update=True)
                if row is not None and row.version == version:
                    row.pending_jwt = token
            try:
                service.chain.publish_status(list_id, status_list_digest(token), service.status_uri(list_id))
            except Exception as exc:
                service.log(f"publishing status list {list_id} failed ({type(exc).__name__}); will retry")
                return 0
        with service.sessions.begin() as session:
            row = session.get(StatusListRow, list_id)
            assert row is not None
            row.jwt, row.jwt_exp, row.published_at = token, now + service.settings.status_list_validity, now
            row.published_version = max(row.published_version, version)
            if row.version == version:  # nothing changed since: the served list is the newest
                row.pending_jwt = None
            row.chain_version += 1 if service.chain is not None else 0
        return 1

    @staticmethod
    def served(session: Session, list_id: int) -> str | None:
        row = session.get(StatusListRow, list_id)
        return None if row is None else row.jwt
