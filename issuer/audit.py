"""The append-only, hash-chained audit log.

Each event's hash is ``sha256(prev_hash || canonical JSON of the event)``, and ``seq`` is the previous
``seq + 1`` under a primary key, so two writers racing for the same place cannot fork the chain: the
loser's insert conflicts (PostgreSQL makes it wait for the winner's commit first), and it re-reads the
head and tries again inside a savepoint. Editing or deleting a row breaks every later hash, which
:func:`verify_chain` detects. Details carry identifiers only, never claim values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.store.models import AuditEvent, table_of
from issuer.store.rows import RowInsert

__all__ = ["GENESIS", "AuditEntry", "Event", "HeadHint", "append", "append_many", "entries", "entries_for",
           "verify_chain"]

GENESIS = "0" * 64
_TABLE = table_of(AuditEvent)
_COLUMNS = ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash")
_INSERT = RowInsert(_TABLE, _COLUMNS, ignore_conflicts=True, returning=("seq",))
_INSERT_ALL = RowInsert(_TABLE, _COLUMNS)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    actor: str
    action: str
    target: str
    details: Mapping[str, object]
    hash: str


def _event_hash(prev_hash: str, *fields: object) -> str:
    """``fields`` = (seq, at, actor, action, target, details)."""
    body = json.dumps(list(fields), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode()).hexdigest()


class HeadHint:
    """The last head this process committed, to skip reading the head before an append.

    Safe even when stale: seqs are contiguous and never deleted, so if ``seq + 1`` is free then ``seq`` is
    the head; if it is taken, the insert conflicts and the head is read. Set only after a commit.
    """

    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None

    def committed(self, head: tuple[int, str] | None) -> None:
        if head is not None and (self.head is None or head[0] > self.head[0]):
            self.head = head


def append(
    session: Session | Connection,
    *,
    at: int,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object] | None = None,
    hint: HeadHint | None = None,
) -> tuple[int, str]:
    """Append one event in the caller's transaction; returns its ``(seq, hash)``."""
    text = json.dumps(dict(details or {}), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    conn = session.connection() if isinstance(session, Session) else session
    head = hint.head if hint is not None else None
    for _ in range(50):
        if head is None:
            head = conn.execute(select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        digest = _event_hash(prev, seq, at, actor, action, target, text)
        if _INSERT(conn, [(seq, at, actor, action, target, text, prev, digest)]):
            return seq, digest
        head = None
    raise RuntimeError("audit log head kept moving")  # pragma: no cover - 50 lost races in a row


@dataclass(frozen=True, slots=True)
class Event:
    at: int
    actor: str
    action: str
    target: str
    details: Mapping[str, object]


def append_many(conn: Connection, events: list[Event]) -> tuple[int, str] | None:
    """Append ``events`` in order in one statement (many offers from one CSV); returns the last ``(seq, hash)``.

    Inside a savepoint: if another writer took one of the seqs meanwhile, the insert fails as a whole, the
    savepoint is rolled back and the chain is recomputed on the new head.
    """
    if not events:
        return None
    for _ in range(50):
        head = conn.execute(select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)).first()
        seq, prev = (head[0], head[1]) if head else (0, GENESIS)
        rows = []
        for ev in events:
            seq += 1
            text = json.dumps(dict(ev.details), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            digest = _event_hash(prev, seq, ev.at, ev.actor, ev.action, ev.target, text)
            rows.append((seq, ev.at, ev.actor, ev.action, ev.target, text, prev, digest))
            prev = digest
        try:
            with conn.begin_nested():
                _INSERT_ALL(conn, rows)
        except IntegrityError:
            continue
        return seq, prev
    raise RuntimeError("audit log head kept moving")  # pragma: no cover - 50 lost races in a row


def verify_chain(session: Session) -> int:
    """Check every hash and the absence of gaps; returns the number of events. Raises ``ValueError``."""
    prev, expected_seq, count = GENESIS, 1, 0
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        if ev.seq != expected_seq or ev.prev_hash != prev:
            raise ValueError(f"audit log broken at seq {ev.seq}")
        if ev.hash != _event_hash(prev, ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.details):
            raise ValueError(f"audit event {ev.seq} was altered")
        prev, expected_seq, count = ev.hash, expected_seq + 1, count + 1
    return count


def entries(session: Session, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit))
    return [AuditEntry(r.seq, r.at, r.actor, r.action, r.target, json.loads(r.details), r.hash) for r in rows]


def entries_for(session: Session, targets: list[str], *, limit: int = 200) -> list[AuditEntry]:
    """The events about any of ``targets`` (a credential and its offer), oldest first."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.target.in_(targets)).order_by(AuditEvent.seq)
                           .limit(limit))
    return [AuditEntry(r.seq, r.at, r.actor, r.action, r.target, json.loads(r.details), r.hash) for r in rows]
