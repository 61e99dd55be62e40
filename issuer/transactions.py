"""One transaction per issuer operation, and what the operations that issue share around it.

Every operation opens one transaction, does all its writes there and commits once, so a request that fails
leaves nothing behind (no credential, no status slot, no queued digest, no audit event). An operation that
commits a refusal on purpose says so where it does it (issuer/openid4vci.py: a wrong transaction code).

A failed transaction also forgets the slot allocator's cached list (it may not exist); a committed issuance
tells the allocator which slots it used, the audit log its new head, and the issuance counter its type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from issuer import audit
from issuer.issuance import Draft, Issuance
from issuer.operations import ISSUANCES
from issuer.status import SlotAllocator

__all__ = ["Transactions", "retry_transient"]

_T = TypeVar("_T")


class Transactions:
    def __init__(self, sessions: sessionmaker[Session], *, slots: SlotAllocator, issuance: Issuance) -> None:
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._slots = slots
        self._issuance = issuance
        #: The audit log's head as this process last committed it (issuer/audit.py): appends skip a lookup.
        self.audit_hint = audit.HeadHint()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction whose failure also forgets the allocator's cached list."""
        try:
            with self._sessions.begin() as session:
                yield session
        except BaseException:
            self._slots.forget()
            raise

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Like :meth:`session` on a bare connection (the direct issuance path needs no ORM session)."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except BaseException:
            self._slots.forget()
            raise

    def committed(self, head: tuple[int, str], draft: Draft | None = None) -> None:
        """After the commit: the audit head, and for an issuance its count and the slots it took."""
        self.audit_hint.committed(head)
        if draft is not None:
            ISSUANCES.labels(draft.ctype.vct).inc()
            self._slots.committed(self._issuance.list_ids(draft))


def retry_transient(fn: Callable[[], _T]) -> _T:
    """Run a transaction again when PostgreSQL aborted it as a deadlock victim or serialization failure
    (concurrent issuances can wait on each other's status slots); anything else propagates."""
    for attempt in range(3):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in {"40P01", "40001"}:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
