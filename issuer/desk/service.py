"""DeskService: what the clerk and operator pages do, as domain operations over :class:`IssuerService`.

Who may do what (checked here, not only by hiding links):

========  =====  ========  ===================================  ======  ============  ==========
role      issue  bulk CSV  look up                              change  keys, health  audit log
========  =====  ========  ===================================  ======  ============  ==========
clerk     yes    yes       what their office issued, by holder  own     no            no
operator  no     no        all, metadata only                   all     yes (rotate)  yes
auditor   no     no        all, metadata only                   no      health only   yes
========  =====  ========  ===================================  ======  ============  ==========

No claim value is stored with a credential (issuer/store/models.py); a clerk finds a holder's credential
through the holder index (issuer/holder_index.py): keyed digests of ``field=value`` that the issuer writes
for every offer and direct issuance, whichever route made it. What an office issued is what its people issued
at the desk and what the clerk tokens assigned to it (``token_offices``) issued through the admin API. Every
change goes through the issuer's service that owns it (``oid4vci``, ``admin``, ``keys``) under the person's
audit name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credcore.errors import MalformedInputError, NotFoundError
from issuer import audit
from issuer.admin import CredentialView, credential_views
from issuer.desk import accounts
from issuer.desk.accounts import Person
from issuer.desk.forms import RowErrors, parse_row
from issuer.errors import ForbiddenError
from issuer.keys import IssuerKeyInfo, derive_key
from issuer.openid4vci import OfferCreated
from issuer.service import IssuerService
from issuer.store.models import (
    AnchorBatch,
    AuditEvent,
    Credential,
    CredentialItem,
    DeskUser,
    Offer,
    StatusListRow,
)
from issuer.types import CredentialType

__all__ = ["DeskService", "Health"]

_STATES = ("valid", "revoked", "suspended")


@dataclass(frozen=True, slots=True)
class Health:
    queued: int
    pending_batches: int
    last_anchor: Mapping[str, Any] | None
    last_status_publication: int | None
    unpublished_lists: int
    chain_head: int | None
    chain_configured: bool


@dataclass(frozen=True, slots=True)
class CredentialDetail:
    view: CredentialView
    office: str
    offer_state: str | None
    anchoring: list[dict[str, Any]]
    history: list[audit.AuditEntry]
    publication: list[dict[str, Any]] = field(default_factory=list)

    @property
    def published(self) -> bool:
        return all(p["published"] for p in self.publication)


class DeskService:
    def __init__(self, issuer: IssuerService) -> None:
        self.issuer = issuer
        self.settings = issuer.settings
        self.seal_key = derive_key(issuer.settings.key_passphrase.get_secret_value(), "bulk results")

    @property
    def now(self) -> int:
        return self.issuer.clock.now()

    # --- people ---------------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str) -> tuple[str, Person]:
        s = self.settings
        with self.issuer.sessions.begin() as session:
            try:
                return accounts.sign_in(session, username, password, now=self.now,
                                        max_failures=s.desk_signin_failures, lockout=s.desk_lockout,
                                        idle=s.desk_idle_timeout, max_age=s.desk_session_max_age)
            except accounts.SignInRefusedError as exc:
                refused = exc  # the transaction commits the counted failure; then refuse
        raise refused

    def person(self, token: str, *, touch: bool = True) -> Person:
        s = self.settings
        with self.issuer.sessions.begin() as session:
            try:
                return accounts.session_person(session, token, now=self.now, idle=s.desk_idle_timeout,
                                               max_age=s.desk_session_max_age, touch=touch)
            except accounts.UnauthorizedError as exc:
                ended = exc  # an expired session row is deleted (committed), then refused
        raise ended

    def sign_out(self, token: str) -> None:
        with self.issuer.sessions.begin() as session:
            accounts.end_session(session, token, now=self.now)

    def names(self) -> dict[str, str]:
        """Audit actor -> display name, for every desk user (the audit page shows people by name)."""
        with self.issuer.sessions() as session:
            return {accounts.actor_of(u.username): u.display_name for u in accounts.list_users(session)}

    # --- issuing --------------------------------------------------------------------------------------
    @staticmethod
    def require(person: Person, *roles: str) -> None:
        if person.role not in roles:
            raise ForbiddenError(f"this needs the {' or '.join(roles)} role")

    def ctype(self, type_id: str) -> CredentialType:
        ctype = self.issuer.types.by_id(type_id)
        if ctype is None:
            raise NotFoundError("unknown credential type")
        return ctype

    def check(self, person: Person, type_id: str, values: Mapping[str, str]) -> RowErrors:
        self.require(person, "clerk")
        return parse_row(self.ctype(type_id), values)[1]

    def issue(self, person: Person, type_id: str, values: Mapping[str, str]) -> OfferCreated | RowErrors:
        """One offer from the form, or the errors per field (nothing stored then)."""
        self.require(person, "clerk")
        ctype = self.ctype(type_id)
        claims, errors = parse_row(ctype, values)
        if errors:
            return errors
        return self.issuer.oid4vci.create_offers(person.actor, ctype.vct, [claims], schema_checked=True)[0]

    def offer_state(self, person: Person, offer_id: str) -> dict[str, Any]:
        self.require(person, "clerk")
        with self.issuer.sessions() as session:
            offer = session.get(Offer, offer_id)
            if offer is None or offer.created_by != person.actor:
                raise NotFoundError("no such offer of yours")
            state = offer.state
            if state in {"open", "redeemed"} and offer.expires_at <= self.now and offer.credential_id is None:
                state = "expired"
            shown = {"open": "waiting", "redeemed": "redeemed", "done": "redeemed"}.get(state, state)
            return {"state": shown, "credential_id": offer.credential_id, "expires_at": offer.expires_at}

    # --- looking up -----------------------------------------------------------------------------------
    def _office_actors(self, session: Session, office: str) -> list[str]:
        users = session.scalars(select(DeskUser.username).where(DeskUser.office == office))
        tokens = [actor for actor, its in self.settings.token_offices.items() if its == office]
        return [accounts.actor_of(u) for u in users] + tokens

    def search(self, person: Person, *, type_id: str = "", state: str = "", date_from: int | None = None,
               date_to: int | None = None, holder_field: str = "", holder_value: str = "", limit: int = 100
               ) -> list[CredentialView]:
        with self.issuer.sessions() as session:
            q = select(Credential).order_by(Credential.created_at.desc(), Credential.id).limit(limit)
            if person.role == "clerk":
                q = q.where(Credential.created_by.in_(self._office_actors(session, person.office)))
            if type_id:
                q = q.where(Credential.vct == self.ctype(type_id).vct)
            if state:
                if state not in _STATES:
                    raise MalformedInputError("state must be valid, revoked or suspended")
                q = q.where(Credential.status == _STATES.index(state))
            if date_from is not None:
                q = q.where(Credential.created_at >= date_from)
            if date_to is not None:
                q = q.where(Credential.created_at < date_to)
            if holder_value.strip():
                if person.role != "clerk":
                    raise ForbiddenError("only a clerk may search by a holder's details")
                q = q.where(self.issuer.holders.matching(holder_field, holder_value))
            return credential_views(session, list(session.scalars(q)))

    def credential(self, person: Person, credential_id: str) -> CredentialDetail:
        view = self.issuer.admin.get_credential(credential_id)
        with self.issuer.sessions() as session:
            cred = session.get(Credential, credential_id)
            assert cred is not None
            office = self._office_of(session, cred.created_by)
            if person.role == "clerk" and office != person.office:
                raise NotFoundError("no such credential issued by your office")
            offer = session.get(Offer, cred.offer_id) if cred.offer_id else None
            targets = [credential_id] + ([cred.offer_id] if cred.offer_id else [])
            history = audit.entries_for(session, targets)
            publication = self._publication(session, credential_id)
        anchoring = [p.to_json() for p in self.issuer.admin.anchor(credential_id)]
        return CredentialDetail(view, office, offer.state if offer else None, anchoring, history, publication)

    def _office_of(self, session: Session, actor: str) -> str:
        if not actor.startswith("person:"):
            return self.settings.token_offices.get(actor, "")
        user = session.scalars(select(DeskUser).where(DeskUser.username == actor.removeprefix("person:"))).first()
        return user.office if user is not None else ""

    @staticmethod
    def _publication(session: Session, credential_id: str) -> list[dict[str, Any]]:
        """Per status list of the credential: has the latest change been signed, served and put on chain?"""
        ids = session.scalars(select(CredentialItem.list_id).where(CredentialItem.credential_id == credential_id)
                              .distinct()).all()
        out = []
        for row in session.scalars(select(StatusListRow).where(StatusListRow.id.in_(ids)).order_by(StatusListRow.id)):
            out.append({"list": row.id, "version": row.version, "published_version": row.published_version,
                        "published": row.published_version >= row.version, "published_at": row.published_at,
                        "chain_version": row.chain_version})
        return out

    def change_status(self, person: Person, credential_id: str, action: str, reason: str) -> CredentialView:
        self.require(person, "clerk", "operator")
        if action not in {"revoke", "suspend", "reinstate"}:
            raise MalformedInputError("action must be revoke, suspend or reinstate")
        reason = reason.strip()
        if not reason or len(reason) > 200:
            raise MalformedInputError("a reason of 1 to 200 characters is required")
        self.credential(person, credential_id)  # a clerk may only change what their office issued
        return self.issuer.admin.change_status(person.actor, credential_id, action, reason)

    # --- operator ---------------------------------------------------------------------------------------
    def keys(self, person: Person) -> list[IssuerKeyInfo]:
        self.require(person, "operator")
        return sorted(self.issuer.keys.all(), key=lambda k: (not k.active, -k.valid_from))

    def rotate(self, person: Person) -> IssuerKeyInfo:
        self.require(person, "operator")
        return self.issuer.keys.rotate(person.actor)

    def health(self, person: Person) -> Health:
        self.require(person, "operator", "auditor")
        with self.issuer.sessions() as session:
            queued = session.scalar(select(func.count()).where(CredentialItem.batch_id.is_(None))) or 0
            pending = session.scalar(select(func.count()).where(AnchorBatch.state != "anchored")) or 0
            last = session.scalars(select(AnchorBatch).where(AnchorBatch.state == "anchored")
                                   .order_by(AnchorBatch.anchored_at.desc(), AnchorBatch.id.desc()).limit(1)).first()
            published = session.scalar(select(func.max(StatusListRow.published_at)))
            behind = session.scalar(select(func.count()).where(
                StatusListRow.published_version < StatusListRow.version)) or 0
        anchor = None if last is None else {"block": last.block, "root": "0x" + last.root.hex(), "count": last.count,
                                            "at": last.anchored_at, "tx": last.tx_hash}
        head = None
        chain = self.issuer.chain
        probe = getattr(chain, "head", None)
        if callable(probe):
            try:
                head = int(probe())
            except Exception:  # a chain that does not answer shows as unknown, not as an error page
                head = None
        return Health(int(queued), int(pending), anchor, published, int(behind), head, chain is not None)

    def audit_log(self, person: Person, *, before: int | None, limit: int) -> tuple[list[dict[str, Any]], int | str]:
        """Up to ``limit`` events before seq ``before`` (None: the newest), newest first, and the number of
        events verified from genesis, or the reason the hash-chain check failed."""
        self.require(person, "operator", "auditor")
        with self.issuer.sessions() as session:
            try:
                verified: int | str = audit.verify_chain(session)
            except ValueError as exc:
                verified = str(exc)
            last = session.scalar(select(func.max(AuditEvent.seq))) or 0
            end = last + 1 if before is None else min(before, last + 1)
            page = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                     "details": dict(e.details), "hash": e.hash}
                    for e in audit.entries(session, after=max(0, end - 1 - limit), limit=min(limit, end - 1))]
        return page[::-1], verified
