"""OpenID4VCI: the issuer's side of OpenID for Verifiable Credential Issuance 1.0, with no HTTP in sight.

Offers (a clerk's, or a desk CSV job's), the token endpoint (the pre-authorized code grant and, when enabled,
refresh, issuer/refresh.py), nonces, the credential endpoint (a batch of SD-JWT VCs or of CP1 copies, one per
proof key; again under a refresh grant) and notifications. With a DPoP proof (RFC 9449, issuer/dpop.py) the
tokens are bound to the wallet's key; when ``dpop_nonce_ttl`` is set proofs must carry our nonce.

Each operation is one transaction (issuer/transactions.py), with one deliberate exception: a wrong transaction
code is counted and committed, then refused (issuer/offers.py, which also holds the offer rules).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock
from issuer import audit, offers, refresh
from issuer import dpop as dpop_mod
from issuer.errors import (
    CredentialRequestDeniedError,
    DpopBoundTokenError,
    InvalidCredentialRequestError,
    InvalidDpopProofError,
    InvalidNotificationIdError,
    InvalidTokenError,
    OAuthRequestError,
    ResourceDpopProofError,
    ResourceUseDpopNonceError,
    UnknownConfigurationError,
    UnsupportedGrantTypeError,
    UseDpopNonceError,
)
from issuer.holder_index import HolderIndex
from issuer.issuance import CP1_FORMAT, SD_JWT_FORMAT, Draft, Issuance, Issued, insert_credential
from issuer.keys import ActiveKey, derive_key
from issuer.settings import IssuerSettings
from issuer.signing_keys import SigningKeys
from issuer.store.models import Credential, Offer, RefreshGrant
from issuer.transactions import Transactions, retry_transient
from issuer.types import CredentialType, TypeRegistry

__all__ = ["CP1_SUFFIX", "OfferCreated", "OpenID4VCI", "TokenGrant"]

#: The configuration id of a type's CP1 copies: ``<Type>_cp1`` (issuer/api/metadata.py).
CP1_SUFFIX = "_cp1"


@dataclass(frozen=True, slots=True)
class OfferCreated:
    offer_id: str
    credential_offer: dict[str, Any]
    uri: str
    tx_code: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A token response: ``token_type`` Bearer, or DPoP (RFC 9449) with a ``refresh_token`` when allowed."""

    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    refresh_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type,
                                "expires_in": self.expires_in}
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


class OpenID4VCI:
    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        types: TypeRegistry,
        holders: HolderIndex,
        keys: SigningKeys,
        issuance: Issuance,
        tx: Transactions,
        erased: threading.Event,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clock = clock
        self._types = types
        self._holders = holders
        self._keys = keys
        self._issuance = issuance
        self._tx = tx
        #: Set when an offer's claims were dropped, so the worker checkpoints SQLite's WAL.
        self._erased = erased
        self._base_url = settings.base_url.rstrip("/")
        secret = settings.key_passphrase.get_secret_value()
        self.dpop_nonces = (dpop_mod.DpopNonces(derive_key(secret, "dpop nonce"), settings.dpop_nonce_ttl)
                            if settings.dpop_nonce_ttl else None)

    def configurations(self) -> dict[str, tuple[CredentialType, str]]:
        """OpenID4VCI credential configurations: ``<Type>`` (SD-JWT VC) and ``<Type>_cp1`` (CP1 copies)."""
        out: dict[str, tuple[CredentialType, str]] = {}
        for t in self._types:
            out[t.id] = (t, SD_JWT_FORMAT)
            if t.cp1_profile is not None:
                out[t.id + CP1_SUFFIX] = (t, CP1_FORMAT)
        return out

    def create_offer(self, actor: str, vct: str, claims: object) -> OfferCreated:
        return self.create_offers(actor, vct, [claims])[0]

    def create_offers(
        self, actor: str, vct: str, claims_list: Sequence[object], *, ttl: int | None = None,
        finish: Callable[[Session, list[OfferCreated]], None] | None = None,
        schema_checked: bool = False,
    ) -> list[OfferCreated]:
        """Offers for many claim sets in one transaction (all or none), one audit event each, each offer in
        the holder index (issuer/holder_index.py) whichever route made it.

        ``finish`` (given the offers) runs inside it: the desk records a CSV job's progress there, so it
        commits with the offers or not at all. ``schema_checked``: the caller has validated every claim set
        against this type's schema (derived claims are still computed now)."""
        ctype = self._types.get(vct)
        now = self._clock.now()
        tz = self._settings.timezone
        prepared = [ctype.with_derived(c, now=now, tz=tz) if schema_checked and isinstance(c, dict)
                    else ctype.prepare_claims(c, now=now, tz=tz) for c in claims_list]
        made: list[OfferCreated] = []
        events: list[audit.Event] = []
        with self._sessions.begin() as session:
            for claims in prepared:
                new = offers.create_offer(session, vct=vct, claims_json=json.dumps(claims), actor=actor, now=now,
                                          ttl=ttl or self._settings.offer_ttl, pin_length=self._settings.tx_code_length)
                events.append(audit.Event(now, actor, "offer.created", new.offer_id, {"vct": vct}))
                made.append(self._offer_created(ctype, new))
            audit.append_many(session.connection(), events)
            self._holders.add_offers(session.connection(), [(o.offer_id, c) for o, c in zip(made, prepared,
                                                                                          strict=True)])
            if finish is not None:
                finish(session, made)
        return made

    def _offer_created(self, ctype: CredentialType, new: offers.NewOffer) -> OfferCreated:
        config_ids = [ctype.id] + ([ctype.id + CP1_SUFFIX] if ctype.cp1_profile else [])
        body = {
            "credential_issuer": self._base_url,
            "credential_configuration_ids": config_ids,
            "grants": {
                offers.PRE_AUTH_GRANT: {
                    "pre-authorized_code": new.pre_authorized_code,
                    "tx_code": {"input_mode": "numeric", "length": self._settings.tx_code_length,
                                "description": "The PIN the clerk shows you"},
                }
            },
        }
        text = json.dumps(body, separators=(",", ":"))
        uri = "openid-credential-offer://?credential_offer=" + quote(text, safe="")
        return OfferCreated(new.offer_id, body, uri, new.tx_code, new.expires_at)

    def token(
        self,
        grant_type: str | None,
        code: str | None,
        tx_code: str | None,
        *,
        refresh_token: str | None = None,
        dpop: str | None = None,
    ) -> TokenGrant:
        """The token endpoint: the pre-authorized code grant, and refresh (issuer/refresh.py). With a DPoP
        proof (RFC 9449) the tokens are bound to the wallet's key and a refresh token comes with them."""
        now = self._clock.now()
        if grant_type == "refresh_token" and self._settings.refresh_batches_per_day:
            return self._refresh(refresh_token, dpop, now)
        if grant_type != offers.PRE_AUTH_GRANT:
            raise UnsupportedGrantTypeError("only the pre-authorized code and refresh_token grants are supported")
        if not code:
            raise OAuthRequestError("pre-authorized_code is required")
        proof = None if dpop is None else self._dpop(dpop, "/token", now)
        refresh_token = None
        with self._sessions.begin() as session:
            if proof is not None:
                dpop_mod.record_use(session, proof)
            result = offers.redeem(session, code=code, tx_code=tx_code, now=now,
                                   max_attempts=self._settings.tx_code_attempts,
                                   token_ttl=self._settings.access_token_ttl)
            if result.offer is not None and proof is not None:
                result.offer.token_jkt = proof.jkt
                if self._settings.refresh_batches_per_day and result.offer.claims_json is not None:
                    refresh_token = refresh.open_grant(session, result.offer, jkt=proof.jkt,
                                                       claims_json=result.offer.claims_json, now=now,
                                                       ttl=self._settings.refresh_token_ttl)
        if result.error is not None:
            self._erased.set()  # a locked or expired offer's claims were just dropped
            raise result.error
        assert result.access_token is not None
        kind = "Bearer" if proof is None else "DPoP"
        return TokenGrant(result.access_token, self._settings.access_token_ttl, kind, refresh_token)

    def _dpop(self, proof: str | None, path: str, now: int, access_token: str | None = None) -> dpop_mod.DpopProof:
        return dpop_mod.verify_dpop(proof, method="POST", url=self._base_url + path, now=now,
                                    max_age=self._settings.dpop_max_age, access_token=access_token,
                                    nonces=self.dpop_nonces)

    def dpop_nonce(self) -> str | None:
        """A fresh DPoP nonce for the ``DPoP-Nonce`` header of an answer (None when nonces are off)."""
        return None if self.dpop_nonces is None else self.dpop_nonces.issue(self._clock.now())

    def _refresh(self, refresh_token: str | None, dpop: str | None, now: int) -> TokenGrant:
        if not refresh_token:
            raise OAuthRequestError("refresh_token is required")
        proof = self._dpop(dpop, "/token", now)
        with self._sessions.begin() as session:
            dpop_mod.record_use(session, proof)
            done = refresh.redeem_refresh(session, refresh_token, jkt=proof.jkt, now=now,
                                          per_day=self._settings.refresh_batches_per_day,
                                          token_ttl=self._settings.access_token_ttl)
        return TokenGrant(done.access_token, self._settings.access_token_ttl, "DPoP", None)

    def _bound(self, jkt: str | None, scheme: str, proof: str | None, token: str, now: int, *,
               path: str = "/credential") -> dpop_mod.DpopProof | None:
        """The access token's binding honoured: a DPoP-bound token needs the DPoP scheme and a proof by its key."""
        if jkt is None:
            if scheme != "bearer":
                raise InvalidTokenError("this access token is a bearer token")
            return None
        if scheme != "dpop":
            raise DpopBoundTokenError("this access token is DPoP-bound: send 'Authorization: DPoP' and a DPoP proof")
        try:
            checked = self._dpop(proof, path, now, access_token=token)
        except UseDpopNonceError as exc:
            raise ResourceUseDpopNonceError(exc.detail, nonce=exc.nonce) from None
        except InvalidDpopProofError as exc:
            raise ResourceDpopProofError(exc.detail) from None  # the same fault, answered as a resource does
        if checked.jkt != jkt:
            raise ResourceDpopProofError("DPoP proof is not by the key this access token is bound to")
        return checked

    def nonce(self) -> str:
        with self._sessions.begin() as session:
            return offers.issue_nonce(session, now=self._clock.now(), ttl=self._settings.nonce_ttl)

    def credential(
        self, access_token: str | None, request: object, *, scheme: str = "bearer", dpop: str | None = None
    ) -> Issued:
        """The credential endpoint (§8): a batch of SD-JWT VCs or of CP1 copies, one per proof key.

        Reads and checks first, signs outside any transaction, then re-checks under the offer's row lock
        (a concurrent request may have used the nonce or the configuration meanwhile) and stores. An access
        token from a refresh goes to :meth:`_reissue`.
        """
        now = self._clock.now()
        config_id, proofs = offers.parse_credential_request(request)
        configs = self.configurations()
        self._keys.require_registered()
        with self._sessions() as session:
            found = offers.find_offer_for_token(session, access_token, now=now, lock=False)
            if found is not None:
                offer = found
                binding = self._bound(offer.token_jkt, scheme, dpop, access_token or "", now)
                ctype, fmt = self._offered(offer, config_id, configs)
                # §8.2, §12.2.4: up to batch_size proofs for every configuration, one credential per proof key
                limit = self._settings.batch_size
                if not 1 <= len(proofs) <= limit:
                    raise InvalidCredentialRequestError(f"send 1 to {limit} proofs for this configuration")
                claims = json.loads(offer.claims_json or "{}")
                existing = session.get(Credential, offer.credential_id) if offer.credential_id else None
        if found is None:  # not an offer's token: a refresh grant's (a session of its own: SQLite's write lock)
            assert access_token is not None
            return self._reissue(access_token, config_id, proofs, configs, scheme=scheme, dpop=dpop, now=now)
        checked = offers.check_proofs(proofs, audience=self._base_url, now=now, max_age=self._settings.proof_max_age)
        sd_keys = checked.keys if fmt == SD_JWT_FORMAT else ()
        cp1_keys = () if fmt == SD_JWT_FORMAT else checked.keys

        def attempt(signer: ActiveKey) -> tuple[Issued, Draft, tuple[int, str]]:
            cred = existing or self._issuance.new_credential(ctype, actor=offer.created_by, offer_id=offer.id,
                                                            now=now, signer=signer)
            # Copies requested after the first part was issued are dated now when the key changed since: the
            # record's iat may lie before the current key's window.
            iat = cred.iat if cred.key_thumbprint == signer.kid else signer.signing_time(now)
            draft = self._issuance.draft(ctype, claims, credential_id=cred.id, sd_keys=sd_keys,
                                        cp1_keys=cp1_keys, iat=iat, exp=cred.exp, signer=signer)

            def store() -> tuple[Issued, tuple[int, str]]:
                with self._tx.session() as session:
                    offer = offers.offer_for_token(session, access_token, now=now)
                    self._offered(offer, config_id, configs)
                    if binding is not None:
                        dpop_mod.record_use(session, binding)
                    offers.consume_nonce(session, checked.nonce, now=now)
                    if offer.credential_id is None:
                        insert_credential(session.connection(), cred)
                        offer.credential_id = cred.id
                    draft.credential_id = offer.credential_id
                    texts = self._issuance.place(session.connection(), draft, now=self._clock.now())
                    issued = [c for c in offer.issued_configs.split(",") if c] + [config_id]
                    offer.issued_configs = ",".join(issued)
                    if set(issued) >= {c for c, (t, _) in configs.items() if t.vct == offer.vct}:
                        offer.state, offer.claims_json = "done", None  # nothing personal kept once all is issued
                    head = audit.append(session, at=now, actor="wallet", action="credential.issued",
                                        target=offer.credential_id, hint=self._tx.audit_hint,
                                        details={"vct": ctype.vct, "format": fmt, "count": len(texts),
                                                 "offer": offer.id})
                    result = Issued(offer.credential_id, texts, [fmt] * len(texts))
                return result, head

            result, head = retry_transient(store)
            return result, draft, head

        result, draft, head = self._keys.with_signing_key(attempt)
        self._tx.committed(head, draft)
        self._erased.set()  # the offer's claims are dropped once its last configuration is issued
        return result

    def _reissue(self, token: str, config_id: str, proofs: list[Any],
                 configs: Mapping[str, tuple[CredentialType, str]], *, scheme: str, dpop: str | None, now: int
                 ) -> Issued:
        """A new batch under a refresh grant's access token: same claims, status and ``exp``, signed now."""
        with self._sessions() as session:
            grant = refresh.grant_for_token(session, token, now=now, lock=False)
            if grant is None:
                raise InvalidTokenError("access token is unknown or expired")
            binding = self._bound(grant.jkt, scheme, dpop, token, now)
            ctype, fmt = self._granted(grant, config_id, configs)
            cred = refresh.credential_of(session, grant, now=now)
            cred_id, exp = cred.id, cred.exp
            claims = json.loads(refresh.open_claims(token, grant, grant.token_claims or b""))
        if not 1 <= len(proofs) <= self._settings.batch_size:
            raise InvalidCredentialRequestError(f"send 1 to {self._settings.batch_size} proofs for this configuration")
        checked = offers.check_proofs(proofs, audience=self._base_url, now=now, max_age=self._settings.proof_max_age)
        assert binding is not None  # a grant's tokens are always DPoP-bound

        def attempt(signer: ActiveKey) -> tuple[Issued, Draft, tuple[int, str]]:
            draft = self._issuance.draft(ctype, claims, credential_id=cred_id,
                                        sd_keys=checked.keys if fmt == SD_JWT_FORMAT else (),
                                        cp1_keys=() if fmt == SD_JWT_FORMAT else checked.keys,
                                        iat=signer.signing_time(now), exp=exp, signer=signer)

            def store() -> tuple[Issued, tuple[int, str]]:
                with self._tx.session() as session:
                    grant = refresh.grant_for_token(session, token, now=now)
                    if grant is None:
                        raise InvalidTokenError("access token is unknown or expired")
                    self._granted(grant, config_id, configs)
                    refresh.credential_of(session, grant, now=now)  # revoked or suspended meanwhile: nothing
                    dpop_mod.record_use(session, binding)
                    offers.consume_nonce(session, checked.nonce, now=now)
                    texts = self._issuance.place(session.connection(), draft, now=self._clock.now())
                    grant.issued_configs = ",".join([c for c in grant.issued_configs.split(",") if c] + [config_id])
                    head = audit.append(session, at=now, actor="wallet", action="credential.refreshed",
                                        target=cred_id, hint=self._tx.audit_hint,
                                        details={"vct": ctype.vct, "format": fmt, "count": len(texts)})
                return Issued(cred_id, texts, [fmt] * len(texts)), head

            result, head = retry_transient(store)
            return result, draft, head

        result, draft, head = self._keys.with_signing_key(attempt)
        self._tx.committed(head, draft)
        return result

    @staticmethod
    def _granted(grant: RefreshGrant, config_id: str, configs: Mapping[str, tuple[CredentialType, str]]
                 ) -> tuple[CredentialType, str]:
        if config_id not in configs or configs[config_id][0].vct != grant.vct:
            raise UnknownConfigurationError("this configuration is not of the refreshed credential's type")
        if config_id in grant.issued_configs.split(","):
            raise CredentialRequestDeniedError("this configuration was already issued for this refresh; refresh again")
        return configs[config_id]

    @staticmethod
    def _offered(offer: Offer, config_id: str, configs: Mapping[str, tuple[CredentialType, str]]
                 ) -> tuple[CredentialType, str]:
        if config_id not in configs:
            raise UnknownConfigurationError("credential_configuration_id is not supported")
        ctype, fmt = configs[config_id]
        if ctype.vct != offer.vct:
            raise UnknownConfigurationError("this configuration was not offered")
        if config_id in offer.issued_configs.split(","):
            raise CredentialRequestDeniedError("this configuration was already issued for the offer")
        if offer.claims_json is None:
            raise CredentialRequestDeniedError("offer has no claims left")
        return ctype, fmt

    def notify(
        self, access_token: str | None, request: object, *, scheme: str = "bearer", dpop: str | None = None
    ) -> None:
        """The notification endpoint (§11): what the wallet did with a credential, kept in the audit log.

        The notification id a credential response gives is the credential's id here, so a wallet that shows it
        names the credential as this issuer's admin API does (to revoke, suspend or reinstate it).
        """
        now = self._clock.now()
        with self._tx.session() as session:
            found = offers.find_offer_for_token(session, access_token, now=now, lock=False)  # 401 before any 400
            offer, jkt = found, found.token_jkt if found is not None else None
            if found is None:  # a refresh grant's access token: its credential responses gave notification ids too
                grant = refresh.grant_for_token(session, access_token or "", now=now, lock=False)
                offer = session.get(Offer, grant.offer_id) if grant is not None else None
                if grant is None or offer is None:
                    raise InvalidTokenError("access token is unknown or expired")
                jkt = grant.jkt
            self._bound(jkt, scheme, dpop, access_token or "", now, path="/notification")
            notification_id, event = offers.parse_notification(request)
            if offer.credential_id is None or offer.credential_id != notification_id:
                raise InvalidNotificationIdError("notification_id was not given with this access token")
            head = audit.append(session, at=now, actor="wallet", action="credential.notified",
                                target=notification_id, details={"event": event}, hint=self._tx.audit_hint)
        self._tx.committed(head)
