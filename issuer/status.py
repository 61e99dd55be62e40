"""Token Status List slots: random, unique and spread out, so a status index says nothing about a holder.

Each signed artefact (the SD-JWT VC and every CP1 copy) takes its own slot, drawn uniformly at random
from the current list (herd privacy, draft-ietf-oauth-status-list §12.5: an index reveals neither issue
order nor which copies belong together). Uniqueness is the database's job: ``UNIQUE (list_id, idx)``
and ``INSERT .. ON CONFLICT DO NOTHING``; slots that lose a race are re-drawn. A list is closed once it
is ``max_fill`` full and the next list is opened, so a draw succeeds with probability at least about
``1 - max_fill``. Fill is counted only after collisions (which is when it can matter), and then only when a
round lost half its draws or every 16th collision, so a busy issuer does not count rows on every request.

A status change bumps the list's ``version``; the publisher (:mod:`issuer.status_publisher`) signs a fresh
``statuslist+jwt`` for lists whose published version is behind and writes its digest to the chain.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.orm import Session

from credcore.status_list import StatusList
from issuer.store.models import Credential, CredentialItem, StatusListRow, table_of
from issuer.store.rows import RowInsert

__all__ = ["BITS", "Slot", "SlotAllocator", "build_list", "touch_lists"]

BITS = 2
_INSERT_LISTS = RowInsert(table_of(StatusListRow), ("id", "size", "bits", "version", "published_version",
                                                     "chain_version", "created_at"), ignore_conflicts=True)


@dataclass(frozen=True, slots=True)
class Slot:
    list_id: int
    idx: int


class SlotAllocator:
    """Draws random free slots; the caller inserts them and reports which ones lost a race."""

    def __init__(self, engine: Engine, *, size: int, max_fill: float, rng: random.Random | None = None) -> None:
        self._engine = engine
        self.size = size
        self.max_fill = max_fill
        self._rng = rng or random.SystemRandom()
        self._current: int | None = None
        self._collisions = 0
        #: Every list up to this id is known to be committed; rows for newer ones go in with their slots.
        self._known_max = 0

    def current_list(self, session: Session | Connection | None, *, now: int) -> int:
        """The list new slots are drawn from; ``session`` None means outside any transaction."""
        if self._current is not None:
            return self._current
        if session is None:
            with self._engine.begin() as conn:
                return self.current_list(conn, now=now)
        latest = session.scalar(select(func.max(StatusListRow.id)))
        self._known_max = max(self._known_max, latest or 0)
        if latest is None:
            self.ensure_lists(session, [1], now=now)
        self._current = latest or 1
        return self._current

    def forget(self) -> None:
        """Drop the cached current list (after a rolled-back transaction that may have opened it)."""
        self._current = None

    def draw(self, session: Session | Connection | None, count: int, *, now: int) -> list[Slot]:
        list_id = self.current_list(session, now=now)
        return [Slot(list_id, i) for i in self._rng.sample(range(self.size), count)]

    def after_collision(self, session: Session | Connection, *, now: int, lost: int = 1, drawn: int = 1) -> None:
        """``lost`` of ``drawn`` slots were taken: maybe close the current list and open the next."""
        self._collisions += 1
        if 2 * lost < drawn and self._collisions % 16:
            return
        list_id = self.current_list(session, now=now)
        latest = session.scalar(select(func.max(StatusListRow.id))) or list_id
        if latest > list_id:  # another worker already moved on
            self._current = latest
            return
        used = session.scalar(select(func.count()).where(CredentialItem.list_id == list_id)) or 0
        if used >= self.max_fill * self.size:
            self._current = list_id + 1  # its row is inserted with the first slots drawn from it

    def ensure_lists(self, session: Session | Connection, list_ids: Iterable[int], *, now: int) -> None:
        """Insert the rows of lists newer than any known to be committed, in the caller's transaction, so a
        list row exists exactly when a slot in it does (whichever transactions commit or roll back)."""
        rows = [(i, self.size, BITS, 1, 0, 0, now) for i in sorted(set(list_ids)) if i > self._known_max]
        if rows:
            _INSERT_LISTS(session.connection() if isinstance(session, Session) else session, rows)

    def committed(self, list_ids: Iterable[int]) -> None:
        """The caller's transaction, which held slots in ``list_ids``, committed: their rows exist."""
        self._known_max = max(self._known_max, *list_ids, 0)


def build_list(session: Session, list_id: int) -> StatusList:
    """The list's current bits: every slot whose credential is not VALID."""
    row = session.get(StatusListRow, list_id)
    if row is None:
        raise LookupError(list_id)
    status_list = StatusList.empty(row.size, row.bits)
    data = bytearray(status_list.data)
    q = (
        select(CredentialItem.idx, Credential.status)
        .join(Credential, Credential.id == CredentialItem.credential_id)
        .where(CredentialItem.list_id == list_id, Credential.status != 0)
    )
    for idx, status in session.execute(q):
        bit = idx * row.bits
        data[bit // 8] |= status << (bit % 8)
    return StatusList(row.bits, bytes(data))


def touch_lists(session: Session, credential_id: str) -> list[int]:
    """Bump the version of every list holding one of the credential's slots; returns their ids."""
    q = select(CredentialItem.list_id).where(CredentialItem.credential_id == credential_id)
    ids = sorted(set(session.scalars(q)))
    if ids:
        bump = update(StatusListRow).where(StatusListRow.id.in_(ids)).values(version=StatusListRow.version + 1)
        session.execute(bump)
    return ids
