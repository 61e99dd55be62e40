"""The holder index: keyed digests of a few claims of every credential issued, so that a clerk at the desk finds
a holder's credential by an exact value (a name, a birth date, a business number) while no claim value is stored.

A row is HMAC-SHA256 of ``field=value`` under a key derived from the issuer's key passphrase, so the database
alone cannot test guesses. It is written in the transaction that stores what the claims came with: the offer
(the desk's form and CSV jobs, ``POST /v1/offers``) or, for direct issuance (``POST /v1/credentials``), which
has no offer, the credential. So a credential is found the same way whichever route issued it.

Offers made before their route wrote rows are indexed at start from the claims they still hold
(:meth:`HolderIndex.index_held_offers`); once an offer's claims are erased nothing is left to index.

Rows are kept no longer than what they find: an offer that ends without a credential (expired unredeemed,
or locked by wrong PINs) loses its rows when its claims are erased (issuer/offers.py); a credential's rows
are deleted ``holder_index_retention`` after it expires (:func:`sweep`, run by the issuer's worker).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, exists, or_, select
from sqlalchemy.orm import Session

from credcore.errors import MalformedInputError
from issuer.store.models import Credential, DeskHolderIndex, Offer, table_of
from issuer.store.rows import RowInsert

__all__ = ["SEARCHABLE", "HolderIndex", "forget_ended_offers", "sweep"]

SEARCHABLE = ("name", "birth_date", "business_registration_number", "owner", "merchant_reference")

# Conflicts are ignored so that indexing held offers at start may race another starting process.
_INSERT = RowInsert(table_of(DeskHolderIndex), ("digest", "offer_id", "credential_id"), ignore_conflicts=True)
_ROWS_PER_STATEMENT = 1000  # 3000 parameters: well under SQLite's and PostgreSQL's limits


class HolderIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, name: str, value: str) -> str:
        return hmac.new(self._key, f"{name}={value.strip()}".encode(), hashlib.sha256).hexdigest()

    def _digests(self, claims: Mapping[str, Any]) -> set[str]:
        return {self.digest(k, str(v)) for k, v in claims.items() if k in SEARCHABLE}

    def add_offers(self, conn: Connection, created: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Index offers (id, claims) in the caller's transaction."""
        _insert(conn, [(d, offer_id, None) for offer_id, claims in created for d in self._digests(claims)])

    def add_credential(self, conn: Connection, credential_id: str, claims: Mapping[str, Any]) -> None:
        """Index a credential issued without an offer, in the caller's transaction."""
        _insert(conn, [(d, None, credential_id) for d in self._digests(claims)])

    def matching(self, field: str, value: str) -> ColumnElement[bool]:
        """The condition on :class:`Credential` for ``field`` being exactly ``value``."""
        if field not in SEARCHABLE:
            raise MalformedInputError("this field cannot be searched")
        digest = self.digest(field, value)
        by_offer = select(DeskHolderIndex.offer_id).where(DeskHolderIndex.digest == digest,
                                                          DeskHolderIndex.offer_id.is_not(None))
        direct = select(DeskHolderIndex.credential_id).where(DeskHolderIndex.digest == digest,
                                                             DeskHolderIndex.credential_id.is_not(None))
        return or_(Credential.offer_id.in_(by_offer), Credential.id.in_(direct))

    def index_held_offers(self, session: Session) -> int:
        """Index the offers that still hold claims and have no rows yet; returns how many had searchable
        claims. Idempotent (every start runs it)."""
        unindexed = select(Offer.id, Offer.claims_json).where(
            Offer.claims_json.is_not(None), ~exists().where(DeskHolderIndex.offer_id == Offer.id))
        held = [(offer_id, json.loads(claims)) for offer_id, claims in session.execute(unindexed) if claims]
        found = [(offer_id, claims) for offer_id, claims in held if self._digests(claims)]
        self.add_offers(session.connection(), found)
        return len(found)


def sweep(session: Session, *, expired_before: int) -> int:
    """Delete the rows of credentials that expired before ``expired_before``, whichever way they were indexed
    (by their offer or directly). Returns how many rows went."""
    old = Credential.exp < expired_before
    result = session.execute(delete(DeskHolderIndex).where(or_(
        DeskHolderIndex.credential_id.in_(select(Credential.id).where(old)),
        DeskHolderIndex.offer_id.in_(select(Credential.offer_id).where(old, Credential.offer_id.is_not(None))))))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_ended_offers(session: Session) -> int:
    """Delete the rows of offers that ended without a credential before their rows were deleted with them
    (indexes written by an older issuer). Returns how many rows went; every start runs it."""
    ended = select(Offer.id).where(Offer.state.in_(("expired", "locked")), Offer.credential_id.is_(None))
    result = session.execute(delete(DeskHolderIndex).where(DeskHolderIndex.offer_id.in_(ended)))
    return int(getattr(result, "rowcount", 0) or 0)


def _insert(conn: Connection, rows: Sequence[tuple[str, str | None, str | None]]) -> None:
    for first in range(0, len(rows), _ROWS_PER_STATEMENT):
        _INSERT(conn, rows[first:first + _ROWS_PER_STATEMENT])
