"""AdminService: what the admin API and the desk do to issued credentials, and to the types they are issued as.

Clerks issue directly to holder keys (no OpenID4VCI); operators revoke, suspend and reinstate, read anchor
proofs and the audit log, and add credential types. A status change signs its lists in the same transaction
(verifiers enforce the newest list during a chain outage) and wakes the worker to publish them. No claim
value is kept with a credential: the admin view says which type, when, by whom, under which key and how many
signed copies its status covers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from credcore.errors import AlreadyRevokedError, ConflictError, MalformedInputError, NotFoundError
from credcore.keys import PublicKey
from credcore.ports import Clock
from credcore.status_list import Status
from issuer import audit, refresh
from issuer.anchoring import AnchorProof, anchor_proofs
from issuer.errors import TypeConflictError
from issuer.holder_index import HolderIndex
from issuer.issuance import CP1_FORMAT, SD_JWT_FORMAT, Draft, Issuance, Issued, insert_credential
from issuer.keys import ActiveKey
from issuer.settings import IssuerSettings
from issuer.signing_keys import SigningKeys
from issuer.status import touch_lists
from issuer.status_lists import StatusLists
from issuer.store.models import Credential, CredentialItem, CredentialTypeRow, StatusListRow
from issuer.transactions import Transactions, retry_transient
from issuer.types import CredentialType, TypeRegistry, parse_type

__all__ = ["AdminService", "CredentialView", "credential_views"]

_STATUS_NAMES = {Status.VALID: "valid", Status.INVALID: "revoked", Status.SUSPENDED: "suspended"}


@dataclass(frozen=True, slots=True)
class CredentialView:
    id: str
    vct: str
    iat: int
    exp: int
    status: str
    created_at: int
    created_by: str
    key_thumbprint: str
    copies: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vct": self.vct,
            "iat": self.iat,
            "exp": self.exp,
            "status": self.status,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "kid": self.key_thumbprint,
            "copies": self.copies,
        }


class AdminService:
    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        types: TypeRegistry,
        holders: HolderIndex,
        keys: SigningKeys,
        status: StatusLists,
        issuance: Issuance,
        tx: Transactions,
        wake: threading.Event,
        erased: threading.Event,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clock = clock
        self._types = types
        self._holders = holders
        self._keys = keys
        self._status = status
        self._issuance = issuance
        self._tx = tx
        self._wake = wake
        self._erased = erased

    def issue_direct(
        self, actor: str, vct: str, claims: object, holder_keys: Sequence[PublicKey]
    ) -> Issued:
        """Clerk issuance without OpenID4VCI: the first key gets the SD-JWT VC, the others one CP1 copy each."""
        ctype = self._types.get(vct)
        now = self._clock.now()
        prepared = ctype.prepare_claims(claims, now=now, tz=self._settings.timezone)
        n = len(holder_keys)
        if not 1 <= n <= self._settings.batch_size + 1 or len(set(holder_keys)) != n:
            raise MalformedInputError("need 1 to batch_size + 1 distinct holder keys")
        if len(holder_keys) > 1 and ctype.cp1_profile is None:
            raise MalformedInputError("this credential type has no compact (CP1) form")
        self._keys.require_registered()

        def attempt(signer: ActiveKey) -> tuple[Credential, Draft, list[str], tuple[int, str]]:
            cred = self._issuance.new_credential(ctype, actor=actor, offer_id=None, now=now, signer=signer)
            draft = self._issuance.draft(ctype, prepared, credential_id=cred.id, sd_keys=holder_keys[:1],
                                        cp1_keys=holder_keys[1:], iat=cred.iat, exp=cred.exp, signer=signer)

            def store() -> tuple[list[str], tuple[int, str]]:
                with self._tx.connection() as conn:
                    insert_credential(conn, cred)
                    self._holders.add_credential(conn, cred.id, prepared)
                    texts = self._issuance.place(conn, draft, now=self._clock.now())
                    head = audit.append(conn, at=now, actor=actor, action="credential.issued", target=cred.id,
                                        details={"vct": ctype.vct, "copies": n - 1}, hint=self._tx.audit_hint)
                return texts, head

            return (cred, draft, *retry_transient(store))

        cred, draft, texts, head = self._keys.with_signing_key(attempt)
        self._tx.committed(head, draft)
        return Issued(cred.id, texts, [SD_JWT_FORMAT] + [CP1_FORMAT] * (len(texts) - 1))

    def add_type(self, actor: str, definition: Mapping[str, Any]) -> CredentialType:
        ctype = parse_type(dict(definition))
        now = self._clock.now()
        with self._sessions.begin() as session:
            if session.get(CredentialTypeRow, ctype.vct) is not None or ctype.vct in self._types.to_mapping():
                raise TypeConflictError("a credential type with this vct already exists")
            self._types.add(ctype)
            session.add(CredentialTypeRow(vct=ctype.vct, definition=json.dumps(ctype.to_json()), created_at=now))
            audit.append(session, at=now, actor=actor, action="type.added", target=ctype.vct)
        return ctype

    def get_credential(self, credential_id: str) -> CredentialView:
        with self._sessions() as session:
            cred = session.get(Credential, credential_id)
            if cred is None:
                raise NotFoundError("no such credential")
            return credential_views(session, [cred])[0]

    def list_credentials(
        self, *, vct: str | None, status: str | None, limit: int, after: str | None
    ) -> list[CredentialView]:
        with self._sessions() as session:
            q = select(Credential).order_by(Credential.id).limit(limit)
            if vct:
                q = q.where(Credential.vct == vct)
            if status:
                codes = {v: k for k, v in _STATUS_NAMES.items()}
                if status not in codes:
                    raise MalformedInputError("status must be valid, revoked or suspended")
                q = q.where(Credential.status == int(codes[status]))
            if after:
                q = q.where(Credential.id > after)
            return credential_views(session, list(session.scalars(q)))

    def change_status(self, actor: str, credential_id: str, action: str, reason: str = "") -> CredentialView:
        now = self._clock.now()
        with self._sessions.begin() as session:
            cred = session.scalars(select(Credential).where(Credential.id == credential_id).with_for_update()).first()
            if cred is None:
                raise NotFoundError("no such credential")
            if cred.status == Status.INVALID:
                raise AlreadyRevokedError("credential is revoked; revocation is final")
            target = {"revoke": Status.INVALID, "suspend": Status.SUSPENDED, "reinstate": Status.VALID}[action]
            if cred.status == target:
                raise ConflictError(f"credential is already {_STATUS_NAMES[target]}")
            if action == "reinstate" and cred.status != Status.SUSPENDED:
                raise ConflictError("only a suspended credential can be reinstated")
            cred.status = int(target)
            if target == Status.INVALID:
                refresh.forget(session, cred.id)  # revocation is final: no refresh will ever need the claims
                self._erased.set()
            lists = touch_lists(session, cred.id)
            session.flush()
            for list_id in lists:  # signed now, not at the next publication: verifiers enforce it during an outage
                row = session.get(StatusListRow, list_id)
                assert row is not None
                row.pending_jwt = self._status.sign(session, list_id, now=now)
            details: dict[str, object] = {"lists": lists} | ({"reason": reason} if reason else {})
            audit.append(session, at=now, actor=actor, action=f"credential.{action}", target=cred.id, details=details)
            session.flush()
            view = credential_views(session, [cred])[0]
        self._wake.set()
        return view

    def anchor(self, credential_id: str) -> list[AnchorProof]:
        with self._sessions() as session:
            return anchor_proofs(session, credential_id)

    def audit_entries(self, *, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of the audit log, and how many events verified from genesis (raises if the chain is broken)."""
        with self._sessions() as session:
            verified = audit.verify_chain(session)
            page = [
                {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                 "details": dict(e.details), "hash": e.hash}
                for e in audit.entries(session, after=after, limit=limit)
            ]
        return page, verified


def credential_views(session: Session, rows: list[Credential]) -> list[CredentialView]:
    """The admin view of each credential in ``rows``, with its copies: the signed artefacts its status covers (its
    SD-JWT VCs and CP1 copies, refreshed ones too), counted in one query."""
    q = (select(CredentialItem.credential_id, func.count())
         .where(CredentialItem.credential_id.in_([c.id for c in rows])).group_by(CredentialItem.credential_id))
    copies: dict[str, int] = {cid: n for cid, n in session.execute(q)}
    return [_view(c, copies.get(c.id, 0)) for c in rows]


def _view(cred: Credential, copies: int) -> CredentialView:
    return CredentialView(cred.id, cred.vct, cred.iat, cred.exp, _STATUS_NAMES[Status(cred.status)], cred.created_at,
                          cred.created_by, cred.key_thumbprint, copies)
