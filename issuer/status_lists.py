"""StatusLists: the issuer's status lists as it serves them, and as it signs and publishes them.

``/status-lists/{id}`` serves the list whose digest the chain holds, ``/status-lists/{id}/latest`` the newest
signed one (see issuer/status_publisher.py for why both). A status change signs its lists at once through
:meth:`StatusLists.sign`; the worker (issuer/worker.py) publishes them, at most every ``status_publish_interval``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock
from issuer.anchoring import ChainGateway
from issuer.keys import KeyRing
from issuer.settings import IssuerSettings
from issuer.status_publisher import StatusPublisher, sign_list_jwt
from issuer.store.models import StatusListRow

__all__ = ["StatusLists"]


class StatusLists:
    """Signs and serves status lists; it is the :class:`~issuer.status_publisher.Publishing` its publisher takes."""

    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        ring: KeyRing,
        *,
        clock: Clock,
        chain: ChainGateway | None,
        log: Callable[[str], None],
        timer: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ring = ring
        self.clock = clock
        self.chain = chain
        self.log = log
        self.publisher = StatusPublisher(self, interval=settings.status_publish_interval, timer=timer)

    def status_uri(self, list_id: int) -> str:
        return f"{self.settings.base_url.rstrip('/')}/status-lists/{list_id}"

    def sign(self, session: Session, list_id: int, *, now: int) -> str:
        """The list's current bits, signed now (inside the caller's transaction, which holds the change)."""
        return sign_list_jwt(self, session, list_id, now=now)

    def served(self, list_id: int) -> str | None:
        with self.sessions() as session:
            return StatusPublisher.served(session, list_id)

    def latest(self, list_id: int) -> str | None:
        """The newest signed list: one whose digest is not on chain yet if there is one, else the served one."""
        with self.sessions() as session:
            row = session.get(StatusListRow, list_id)
            return None if row is None else (row.pending_jwt or row.jwt)
