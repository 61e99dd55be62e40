"""Signing one issuance: an SD-JWT VC and/or single-use CP1 copies, each in its own random status slot.

Signing is most of the work of an issuance, so it happens before any transaction is open (SQLite holds its
write lock for a whole transaction): :meth:`Issuance.draft` draws tentative slots from the current status
list and signs every artefact for them; :meth:`Issuance.place`, inside the caller's transaction, inserts
the slots with the artefacts' digests (the durable anchoring queue, ``batch_id IS NULL``) and re-draws and
re-signs the few whose slot another issuance took meanwhile (``UNIQUE (list_id, idx)``).

Wire forms: the SD-JWT VC compact string; a CP1 copy as base64url of its COSE_Sign1 (the holder adds the
proof and the ``CP1:`` Base45 wrapping when presenting). Digests (Merkle leaves, the wallet's anchor proofs) are
sha256 of the issuer-signed JWT (so disclosure choices do not change it) and sha256 of the COSE_Sign1 bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from credcore import cp1, sdjwt
from credcore._b64 import b64u_encode
from credcore.errors import ConflictError, InfrastructureError
from credcore.keys import PublicKey
from credcore.ports import SaltSource
from credcore.status_list import Status
from issuer.keys import ActiveKey, KeyRing
from issuer.status import Slot, SlotAllocator
from issuer.store.models import Credential, CredentialItem, table_of
from issuer.store.rows import RowInsert
from issuer.types import CredentialType

__all__ = ["CP1_FORMAT", "SD_JWT_FORMAT", "Draft", "Issuance", "Issued", "KeyWindowClosedError", "insert_credential"]

SD_JWT_FORMAT = "dc+sd-jwt"
#: Our own format identifier for the compact credential: ``credential`` is base64url(COSE_Sign1).
CP1_FORMAT = "civicpass-cp1"

_INSERT_CREDENTIAL = RowInsert(table_of(Credential))
_INSERT_ITEMS = RowInsert(table_of(CredentialItem), ("credential_id", "kind", "list_id", "idx", "digest"),
                          ignore_conflicts=True, returning=("list_id", "idx"))


class KeyWindowClosedError(ConflictError):
    """The draft's key was rotated out before its ``iat`` or before it could be stored: sign it again."""

    code = "signing_key_rotated"


@dataclass(frozen=True, slots=True)
class Issued:
    """What one issuance returns: the credential's id and its signed artefacts, each with its format."""

    credential_id: str
    credentials: list[str]
    formats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Draft:
    """Artefacts of one issuance, signed for tentative ``slots``; with ``digests`` they become queue entries."""

    issuance: Issuance
    ctype: CredentialType
    claims: dict[str, Any]
    profile_claims: dict[str, Any]
    credential_id: str
    kinds: list[str]
    holders: list[PublicKey]
    iat: int
    exp: int
    signer: ActiveKey
    texts: list[str] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)

    def sign(self, which: Sequence[int], slots: Sequence[Slot]) -> None:
        if not self.texts:
            n = len(self.kinds)
            self.texts, self.slots, self.digests = [""] * n, [Slot(0, 0)] * n, [b""] * n
        for i, slot in zip(which, slots, strict=True):
            self.texts[i], self.digests[i] = self.issuance.sign_one(self, self.kinds[i], self.holders[i], slot)
            self.slots[i] = slot


class Issuance:
    def __init__(
        self,
        *,
        keys: KeyRing,
        salts: SaltSource,
        slots: SlotAllocator,
        issuer_id: Callable[[], str],
        status_uri: Callable[[int], str],
    ) -> None:
        self.keys = keys
        self.salts = salts
        self.slots = slots
        self._issuer_id = issuer_id
        self._status_uri = status_uri

    def new_credential(self, ctype: CredentialType, *, actor: str, offer_id: str | None, now: int,
                       signer: ActiveKey) -> Credential:
        """A new credential record (not yet stored): id, validity, signing key."""
        iat = signer.signing_time(now)
        return Credential(id=secrets.token_hex(16), vct=ctype.vct, iat=iat, exp=iat + ctype.validity_days * 86400,
                          status=int(Status.VALID), key_thumbprint=signer.kid, offer_id=offer_id,
                          created_at=now, created_by=actor)

    def draft(
        self,
        ctype: CredentialType,
        claims: Mapping[str, Any],
        *,
        credential_id: str,
        sd_keys: Sequence[PublicKey],
        cp1_keys: Sequence[PublicKey],
        iat: int,
        exp: int,
        signer: ActiveKey,
    ) -> Draft:
        """Sign every artefact for a freshly drawn random slot; call outside any transaction.

        One SD-JWT VC per key in ``sd_keys`` and one CP1 copy per key in ``cp1_keys``: each copy is bound to
        its own holder key and has its own status slot and salts, so two copies cannot be linked.
        """
        kinds = [SD_JWT_FORMAT] * len(sd_keys) + [CP1_FORMAT] * len(cp1_keys)
        draft = Draft(self, ctype, dict(claims), ctype.profile_claims(claims) if cp1_keys else {}, credential_id,
                      kinds, [*sd_keys, *cp1_keys], iat, exp, signer)
        draft.sign(list(range(len(kinds))), self.slots.draw(None, len(kinds), now=iat))
        return draft

    def place(self, conn: Connection, draft: Draft, *, now: int) -> list[str]:
        """Insert the draft's slots and digests in the caller's transaction; returns the wire strings.

        Raises :class:`KeyWindowClosedError` if a rotation closed the draft's key before its ``iat`` or ``now``.
        """
        if KeyRing.window_closed(conn, draft.signer.kid, at=max(now, draft.iat)):
            raise KeyWindowClosedError("the signing key was rotated; sign again")
        pending = list(range(len(draft.kinds)))
        for _attempt in range(32):
            # slot order: concurrent transactions then wait on each other's rows in one direction only
            pending.sort(key=lambda i: (draft.slots[i].list_id, draft.slots[i].idx))
            self.slots.ensure_lists(conn, (draft.slots[i].list_id for i in pending), now=draft.iat)
            rows = [(draft.credential_id, draft.kinds[i], draft.slots[i].list_id, draft.slots[i].idx,
                     draft.digests[i]) for i in pending]
            won = {Slot(list_id, idx) for list_id, idx in _INSERT_ITEMS(conn, rows)}
            drawn = len(pending)
            pending = [i for i in pending if draft.slots[i] not in won]
            if not pending:
                return draft.texts
            self.slots.after_collision(conn, now=draft.iat, lost=len(pending), drawn=drawn)
            draft.sign(pending, self.slots.draw(conn, len(pending), now=draft.iat))
        raise InfrastructureError("no free status slot found")  # pragma: no cover - needs 32 lost draws

    @staticmethod
    def list_ids(draft: Draft) -> set[int]:
        return {slot.list_id for slot in draft.slots}

    def sign_one(self, draft: Draft, kind: str, holder: PublicKey, slot: Slot) -> tuple[str, bytes]:
        """One artefact bound to ``holder`` in ``slot``: (wire string, digest)."""
        ctype = draft.ctype
        if kind == SD_JWT_FORMAT:
            text = sdjwt.issue_sd_jwt_vc(
                draft.claims,
                vct=ctype.vct,
                issuer=self._issuer_id(),
                signer=draft.signer.key,
                holder_key=holder,
                iat=draft.iat,
                exp=draft.exp,
                salts=self.salts,
                status={"status_list": {"idx": slot.idx, "uri": self._status_uri(slot.list_id)}},
                disclosable=ctype.disclosable,
            )
            return text, sdjwt.credential_digest(text)
        assert ctype.cp1_profile is not None
        cose = cp1.issue_cp1(
            draft.profile_claims,
            profile=ctype.cp1_profile,
            signer=draft.signer.key,
            holder_key=holder,
            status_list_id=slot.list_id,
            status_index=slot.idx,
            iat=draft.iat,
            exp=draft.exp,
        )
        return b64u_encode(cose), hashlib.sha256(cose).digest()


def insert_credential(conn: Connection, cred: Credential) -> None:
    """Store the record in the caller's transaction (the hot path inserts plain rows, not through the ORM)."""
    _INSERT_CREDENTIAL(conn, [tuple(getattr(cred, c) for c in _INSERT_CREDENTIAL.columns)])
