"""Worker: one round of the issuer's background work, run by a thread of the app (issuer/api/app.py).

Each round drops expired offers, refresh grants and (hourly) old holder index rows, checkpoints SQLite's WAL
after claims were erased, retries the key registration and window closing the chain refused, and, in the
one process holding the worker lease (issuer/lease.py), publishes changed status lists and anchors queued
digests. The services tell it through :attr:`Worker.wake` (a status changed: publish without waiting for
the next round) and :attr:`Worker.erased` (offer claims may have been deleted).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock
from issuer import holder_index, offers, refresh
from issuer.anchoring import Anchorer, ChainGateway
from issuer.lease import WorkerLease
from issuer.settings import IssuerSettings
from issuer.signing_keys import SigningKeys
from issuer.status_lists import StatusLists
from issuer.store.db import checkpoint

__all__ = ["Worker"]

_HOLDER_SWEEP_EVERY = 3600


class Worker:
    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        chain: ChainGateway | None,
        keys: SigningKeys,
        status: StatusLists,
        lease: WorkerLease,
        log: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._clock = clock
        self._keys = keys
        self._status = status
        #: Anchoring and status publication run only in the process holding this (issuer/lease.py).
        self.lease = lease
        self.anchorer = Anchorer(
            sessions,
            chain,
            batch_size=settings.anchor_batch_size,
            interval=settings.anchor_interval,
            max_backoff=settings.anchor_max_backoff,
            on_error=log,
        )
        #: Set when a credential's status changes, so the worker publishes without waiting for its next round.
        self.wake = threading.Event()
        #: Set when offer claims may have been erased; the worker then checkpoints SQLite's WAL (store/db.py).
        self.erased = threading.Event()
        #: When the worker last deleted expired credentials' holder index rows (None: not yet since start).
        self._holder_swept_at: int | None = None

    def run_once(self, *, force: bool = False) -> None:
        now = self._clock.now()
        self._keys.refresh()
        with self._sessions.begin() as session:
            if offers.sweep(session, now=now) + refresh.sweep(session, now=now) + self._sweep_holders(session, now):
                self.erased.set()
        if self.erased.is_set():
            self.erased.clear()
            checkpoint(self._engine)
        self._keys.retry_pending()
        if self.lease.held():
            self._status.publisher.run_once(now, force=force)
            self.anchorer.run_once(now, force=force)

    def _sweep_holders(self, session: Session, now: int) -> int:
        # Retention is counted in days: once an hour is enough, and spares a scan of credentials every round.
        if self._holder_swept_at is not None and now - self._holder_swept_at < _HOLDER_SWEEP_EVERY:
            return 0
        self._holder_swept_at = now
        return holder_index.sweep(session, expired_before=now - self._settings.holder_index_retention)
