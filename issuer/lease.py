"""Which issuer process does the chain work, when several share one PostgreSQL database.

A city runs the issuer twice (or with several worker processes) for availability. Issuance works on all of
them; anchoring and status publication run on exactly one at a time, the holder of a lease: a PostgreSQL
session-level advisory lock, held on a connection of its own for as long as the process lives. When the holder
dies (even by SIGKILL) its session ends and the lock with it, and the next worker round of another process takes
it over. Chain transactions from any process (a key rotation arrives wherever the load balancer sends it) are
sent under a second advisory lock, with the account's nonce read from the node inside it, so two processes never
use the same nonce. On SQLite (one process, as the embedded default) the lease is always held and sends are
ordered by the signer's own lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event, text

from credcore.errors import ChainUnavailableError

__all__ = ["WorkerLease"]


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_WORKERS = _key("civicpass.issuer.workers")
_SENDING = _key("civicpass.issuer.chain-sends")
_TRY = text("SELECT pg_try_advisory_lock(:k)")
_UNLOCK = text("SELECT pg_advisory_unlock(:k)")


class WorkerLease:
    def __init__(self, engine: Engine, *, on_change: Callable[[str], None] | None = None) -> None:
        self._engine = engine
        self._shared = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._on_change = on_change or (lambda _msg: None)
        if self._shared:  # the lease's own connection is not pooled: close it with the engine
            event.listen(engine, "engine_disposed", lambda _engine: self.release())

    def held(self) -> bool:
        """Whether this process holds the lease, taking it if it is free. One round trip; call it every round."""
        if not self._shared:
            return True
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return True
                except Exception:  # the session (and with it the lock) is gone: another process may take over
                    self._close()
                    self._on_change("issuer workers: lost the lease (database connection dropped)")
            conn = self._connect()
            if conn is None:
                return False
            try:
                got = bool(conn.execute(_TRY, {"k": _WORKERS}).scalar())
            except Exception:
                conn.close()
                return False
            if not got:
                conn.close()
                return False
            self._conn = conn
            self._on_change("issuer workers: this process holds the lease (anchoring, status publication)")
            return True

    @contextmanager
    def sending(self, timeout: float) -> Iterator[None]:
        """Hold the chain-sending lock for one send and its receipt (raises ChainUnavailableError after ``timeout``)."""
        if not self._shared:
            yield
            return
        conn = self._connect()
        if conn is None:
            raise ChainUnavailableError("cannot order chain transactions: the database is unreachable")
        try:
            deadline = time.monotonic() + timeout
            while not conn.execute(_TRY, {"k": _SENDING}).scalar():
                if time.monotonic() > deadline:
                    raise ChainUnavailableError("another issuer process is still sending to the chain")
                time.sleep(0.05)
            try:
                yield
            finally:
                conn.execute(_UNLOCK, {"k": _SENDING})
        finally:
            conn.close()

    def release(self) -> None:
        with self._lock:
            self._close()

    def _connect(self) -> Connection | None:
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.detach()  # its own session: closing it ends the session (and its locks), not a pooled reuse
            return conn
        except Exception:
            return None

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None
