"""Receive credentials with OpenID4VCI 1.0, pre-authorized code flow (§3.5), written from the spec.

Steps: resolve the offer (:mod:`wallet_sdk.offer`); fetch the Credential Issuer Metadata (§12.2, the
well-known path inserted between host and path) and the authorization server's metadata (RFC 8414)
for its token endpoint; exchange the pre-authorized code and the transaction code for an access token
(§6.1); for each offered configuration get a fresh ``c_nonce`` (§7) and send a credential request with
one ``openid4vci-proof+jwt`` per holder key (§8.2, App. F.1): one key for the SD-JWT VC, one per CP1
copy, so no two copies share a key and two scans cannot be linked. Batch size comes from
``batch_credential_issuance`` (§12.2.4). Every credential is checked (:mod:`wallet_sdk.checks`) before
anything is stored; one failure stores nothing. Deferred issuance (HTTP 202) is not supported by
civicpass issuers and is reported as such. The notification endpoint (§11) is told the outcome when the
issuer offers one (best effort: issuance already happened).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from credcore import jws
from credcore.errors import CredError
from credcore.keys import SigningKey
from credcore.profiles import PROFILES
from credcore.trust import TrustSnapshot
from wallet_sdk._dpop import dpop_signer
from wallet_sdk._http import Peer
from wallet_sdk.checks import CP1_FORMAT, SD_JWT_FORMAT, Facts, check_cp1_copy, check_sd_jwt, cp1_facts, sd_jwt_facts
from wallet_sdk.errors import CredentialRejectedError, IssuerRefusedError, PresentationRequestError
from wallet_sdk.offer import PRE_AUTH_GRANT, CredentialOffer, resolve_offer
from wallet_sdk.records import Cp1Copy, RefreshState, SdJwtCopy, StoredCredential
from wallet_sdk.store import Wallet

__all__ = ["PROOF_TYP", "IssuerMetadata", "fetch_metadata", "key_proof", "receive", "well_known"]

PROOF_TYP: Final = "openid4vci-proof+jwt"
#: CP1 copies asked for when the issuer's batch size allows it.
DEFAULT_COPIES: Final = 10


def well_known(identifier: str, suffix: str) -> str:
    """``https://host/.well-known/<suffix>/<path>`` (OpenID4VCI 1.0 §12.2.2, RFC 8414 §3.1)."""
    p = urlsplit(identifier)
    path = p.path.rstrip("/")
    return urlunsplit((p.scheme, p.netloc, f"/.well-known/{suffix}{path}", "", ""))


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    credential_issuer: str
    credential_endpoint: str
    token_endpoint: str
    nonce_endpoint: str | None
    notification_endpoint: str | None
    batch_size: int
    configurations: Mapping[str, Mapping[str, Any]]
    name: str = ""
    #: RFC 9449 §5.1: the authorization server binds tokens to a DPoP key (and then gives refresh tokens).
    dpop: bool = False


def _display_name(obj: Mapping[str, Any]) -> str:
    display = obj.get("display") or (obj.get("credential_metadata") or {}).get("display")
    if isinstance(display, list) and display and isinstance(display[0], dict):
        return str(display[0].get("name", ""))[:100]
    return ""


def fetch_metadata(peer: Peer, offer: CredentialOffer) -> IssuerMetadata:
    issuer = offer.credential_issuer
    meta = peer.request("GET", well_known(issuer, "openid-credential-issuer"), what="issuer metadata").json(
        "issuer metadata"
    )
    if meta.get("credential_issuer") != issuer:  # §12.2.3: must be the identifier we asked about
        raise IssuerRefusedError("issuer metadata names a different credential_issuer")
    configs = meta.get("credential_configurations_supported")
    if not isinstance(configs, dict) or not all(isinstance(configs.get(i), dict) for i in offer.configuration_ids):
        raise IssuerRefusedError("issuer metadata lacks an offered credential configuration")
    servers = meta.get("authorization_servers")
    server = offer.authorization_server or (servers[0] if isinstance(servers, list) and servers else issuer)
    as_meta = peer.request(
        "GET", well_known(peer.url(server, "authorization server"), "oauth-authorization-server"), what="AS metadata"
    ).json("authorization server metadata")
    batch = meta.get("batch_credential_issuance")
    size = batch.get("batch_size") if isinstance(batch, dict) else 1
    optional = {k: peer.url(meta[k], k) if k in meta else None for k in ("nonce_endpoint", "notification_endpoint")}
    return IssuerMetadata(
        credential_issuer=issuer,
        credential_endpoint=peer.url(meta.get("credential_endpoint"), "credential_endpoint"),
        token_endpoint=peer.url(as_meta.get("token_endpoint"), "token_endpoint"),
        nonce_endpoint=optional["nonce_endpoint"],
        notification_endpoint=optional["notification_endpoint"],
        batch_size=size if isinstance(size, int) and size >= 1 else 1,
        configurations={i: configs[i] for i in offer.configuration_ids},
        name=_display_name(meta),
        dpop="ES256" in (as_meta.get("dpop_signing_alg_values_supported") or ()),
    )


def key_proof(key: SigningKey, *, audience: str, nonce: str | None, now: int) -> str:
    """A ``jwt`` key proof (App. F.1). ``iss`` is omitted: pre-authorized, anonymous access (F.1)."""
    claims: dict[str, Any] = {"aud": audience, "iat": now}
    if nonce is not None:
        claims["nonce"] = nonce
    return jws.sign(claims, key, header={"typ": PROOF_TYP, "jwk": key.public_key.to_jwk()})


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    identifiers: Mapping[str, tuple[str, ...]]  # configuration id -> credential_identifiers (§6.2)
    dpop_key: SigningKey | None = None  # set when the token is DPoP-bound (RFC 9449)
    refresh_token: str | None = None

    @property
    def authorization(self) -> dict[str, str]:
        """The ``Authorization`` header: Bearer, or DPoP (§7.1), whose proof :meth:`proofs` makes."""
        return {"authorization": f"{'Bearer' if self.dpop_key is None else 'DPoP'} {self.value}"}

    def proofs(self, url: str, now: int) -> Callable[[str | None], str] | None:
        """DPoP proofs for one request to ``url`` presenting this token, or None for a bearer token."""
        if self.dpop_key is None:
            return None
        return dpop_signer(self.dpop_key, method="POST", url=url, now=now, access_token=self.value)


def _token_response(body: Mapping[str, Any], dpop_key: SigningKey | None) -> _Token:
    token, token_type = body.get("access_token"), body.get("token_type")
    kind = token_type.lower() if isinstance(token_type, str) else ""
    if not isinstance(token, str) or not token or kind not in {"bearer", "dpop"}:
        raise IssuerRefusedError("token response has no bearer or DPoP access_token")
    if kind == "dpop" and dpop_key is None:
        raise IssuerRefusedError("token response is DPoP-bound although no DPoP proof was sent")
    refresh = body.get("refresh_token")
    identifiers: dict[str, tuple[str, ...]] = {}
    for detail in body.get("authorization_details") or []:
        if isinstance(detail, dict) and detail.get("type") == "openid_credential":
            ids = detail.get("credential_identifiers")
            if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
                identifiers[str(detail.get("credential_configuration_id"))] = tuple(ids)
    return _Token(token, identifiers, dpop_key if kind == "dpop" else None,
                  refresh if isinstance(refresh, str) and refresh and kind == "dpop" else None)


def _redeem(peer: Peer, meta: IssuerMetadata, offer: CredentialOffer, tx_code: str | None, *, now: int,
            dpop_key: SigningKey | None) -> _Token:
    if offer.tx_code is not None and not tx_code:
        raise PresentationRequestError("this offer needs the transaction code the issuer gave you")
    if offer.tx_code is not None and tx_code and not offer.tx_code.accepts(tx_code):
        raise PresentationRequestError("the transaction code does not have the expected form")
    form = {"grant_type": PRE_AUTH_GRANT, "pre-authorized_code": offer.pre_authorized_code}
    if tx_code and offer.tx_code is not None:
        form["tx_code"] = tx_code
    proofs = None if dpop_key is None else dpop_signer(dpop_key, method="POST", url=meta.token_endpoint, now=now)
    body = peer.request("POST", meta.token_endpoint, what="token request", data=form, dpop=proofs).json(
        "token response")
    return _token_response(body, dpop_key)


def _nonce(peer: Peer, meta: IssuerMetadata) -> str | None:
    if meta.nonce_endpoint is None:
        return None
    body = peer.request("POST", meta.nonce_endpoint, what="nonce request").json("nonce response")
    nonce = body.get("c_nonce")
    if not isinstance(nonce, str) or not nonce:
        raise IssuerRefusedError("nonce response has no c_nonce")
    return nonce


def _request_credentials(
    peer: Peer, meta: IssuerMetadata, token: _Token, config_id: str, keys: list[SigningKey], *, now: int
) -> tuple[list[Any], str | None]:
    request: dict[str, Any] = {}
    ids = token.identifiers.get(config_id)
    if ids:
        request["credential_identifier"] = ids[0]
    else:
        request["credential_configuration_id"] = config_id
    for attempt in (1, 2):
        nonce = _nonce(peer, meta)
        request["proofs"] = {"jwt": [key_proof(k, audience=meta.credential_issuer, nonce=nonce, now=now) for k in keys]}
        try:
            resp = peer.request(
                "POST",
                meta.credential_endpoint,
                what="credential request",
                headers=token.authorization,
                dpop=token.proofs(meta.credential_endpoint, now),
                json_body=request,
                ok=(200, 202),
            )
            break
        except IssuerRefusedError as exc:
            # §8.3.1.2: invalid_nonce means "get a fresh c_nonce and try again" (e.g. it expired meanwhile).
            if attempt == 2 or exc.context.get("error") != "invalid_nonce" or meta.nonce_endpoint is None:
                raise
    if resp.status == 202:
        raise IssuerRefusedError("the issuer deferred issuance; civicpass wallets do not support deferred issuance")
    body = resp.json("credential response")
    creds = body.get("credentials")
    if not isinstance(creds, list) or len(creds) != len(keys) or not all(isinstance(c, dict) for c in creds):
        raise IssuerRefusedError("credential response does not hold one credential per proof")
    notification = body.get("notification_id")
    return [c.get("credential") for c in creds], notification if isinstance(notification, str) else None


def _notify(peer: Peer, meta: IssuerMetadata, token: _Token, ids: list[str], event: str, *, now: int) -> None:
    if meta.notification_endpoint is None:
        return
    for nid in ids:
        try:
            peer.request(
                "POST",
                meta.notification_endpoint,
                what="notification",
                headers=token.authorization,
                dpop=token.proofs(meta.notification_endpoint, now),
                json_body={"notification_id": nid, "event": event},
                ok=(200, 204),
            )
        except CredError:  # best effort: the credentials are already issued (and stored or refused)
            continue


def receive(
    wallet: Wallet,
    offer_uri: str | CredentialOffer,
    *,
    tx_code: str | None,
    http: httpx.Client,
    trust: TrustSnapshot,
    now: int,
    copies: int = DEFAULT_COPIES,
    sd_jwt_copies: int = 1,
    allow_http: bool = False,
    new_key: Callable[[], SigningKey] = SigningKey.generate,
) -> StoredCredential:
    """Run the pre-authorized code flow for ``offer_uri`` and store the checked credentials as one record.

    Args:
        offer_uri: the offer URI (or QR text), or an offer already resolved with :func:`resolve_offer`.
        trust: issuers and keys to check the credentials against (the app builds it, e.g. from the chain's
            trust registry or from issuer JWKs); a credential from an issuer not in it is refused.
        copies: CP1 copies wanted (capped by the issuer's batch size).
        sd_jwt_copies: SD-JWT VCs wanted (capped likewise), each bound to its own key: with more than one,
            each copy is presented once (:meth:`Wallet.take_sd_jwt`), so two presentations cannot be linked.
        allow_http: permit plain-HTTP endpoints on non-loopback hosts (tests only).

    Raises:
        IssuerRefusedError: the issuer answered with an error (``context['error']``, e.g. ``invalid_grant``
            for a wrong transaction code).
        CredentialRejectedError: a received credential failed its checks; nothing was stored.
        PresentationRequestError: the offer is malformed. WalletUnreachableError: the issuer is unreachable.
    """
    peer = Peer(http, allow_http=allow_http)
    offer = offer_uri if isinstance(offer_uri, CredentialOffer) else resolve_offer(offer_uri, peer=peer)
    meta = fetch_metadata(peer, offer)
    # A DPoP key when the issuer binds tokens (RFC 9449): its tokens and refresh token then need our key.
    token = _redeem(peer, meta, offer, tx_code, now=now, dpop_key=new_key() if meta.dpop else None)
    by_format = {cfg.get("format"): cid for cid, cfg in reversed(list(meta.configurations.items()))}
    if SD_JWT_FORMAT not in by_format and CP1_FORMAT not in by_format:
        raise IssuerRefusedError("the offer holds no credential format this wallet can keep")
    got = _Received(meta.credential_issuer)
    try:
        if SD_JWT_FORMAT in by_format:
            n = max(1, min(sd_jwt_copies, meta.batch_size))
            _take_sd_jwt(peer, meta, token, by_format[SD_JWT_FORMAT], got, count=n, trust=trust, now=now,
                         new_key=new_key)
        if CP1_FORMAT in by_format:
            keys = [new_key() for _ in range(max(1, min(copies, meta.batch_size)))]
            creds, nid = _request_credentials(peer, meta, token, by_format[CP1_FORMAT], keys, now=now)
            got.notifications += [nid] if nid else []
            base = got.status_base()
            got.copies = [
                check_cp1_copy(c, k, trust=trust, now=now, status_base=base) for c, k in zip(creds, keys, strict=True)
            ]
            got.check_same_type()
    except CredentialRejectedError:
        _notify(peer, meta, token, got.notifications, "credential_failure", now=now)
        raise
    stored = wallet.add(got.record(meta, trust, now, refresh=_refresh_state(meta, token, by_format)))
    _notify(peer, meta, token, got.notifications, "credential_accepted", now=now)
    return stored


@dataclass(slots=True)
class _Received:
    credential_issuer: str
    sd_jwts: list[SdJwtCopy] = field(default_factory=list)
    facts: Facts | None = None
    name: str = ""
    copies: list[Cp1Copy] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)

    def status_base(self) -> str:
        # Issuers serve lists at <issuer base URL>/status-lists/<id>; the SD-JWT's own reference names it.
        if self.facts and self.facts.status and "/status-lists/" in self.facts.status.uri:
            return self.facts.status.uri.rsplit("/status-lists/", 1)[0]
        return self.credential_issuer

    def check_same_type(self) -> None:
        """The copies are compact forms of the SD-JWT VC's type (one credential, one record)."""
        if self.facts is not None and any(PROFILES[c.profile].vct != self.facts.vct for c in self.copies):
            raise CredentialRejectedError("CP1 copies are of another type than the SD-JWT VC", check="format",
                                          reason="wrong_type")  # fmt: skip

    def record(self, meta: IssuerMetadata, trust: TrustSnapshot, now: int, *, refresh: RefreshState | None = None
               ) -> StoredCredential:
        facts = self.facts
        if facts is None:  # CP1 copies only: their facts come from the first copy
            first = self.copies[0]
            facts = cp1_facts(first.credential, first.holder_key, now=now, trust=trust)
        return StoredCredential(
            id="",
            vct=facts.vct,
            issuer=facts.issuer,
            received_at=now,
            issued_at=facts.issued_at,
            expires_at=facts.expires_at,
            sd_jwt=self.sd_jwts[0].text if self.sd_jwts else None,
            sd_jwt_key=self.sd_jwts[0].holder_key if self.sd_jwts else None,
            more_sd_jwts=tuple(self.sd_jwts[1:]),
            copies=tuple(self.copies),
            status=facts.status,
            credential_issuer=meta.credential_issuer,
            name=self.name or meta.name,
            refresh=refresh,
            issuer_ref=self.notifications[0] if len(set(self.notifications)) == 1 else "",
        )


def _refresh_state(meta: IssuerMetadata, token: _Token, by_format: Mapping[Any, str]) -> RefreshState | None:
    if token.refresh_token is None or token.dpop_key is None:
        return None
    configs = {cid: str(fmt) for fmt, cid in by_format.items() if fmt in (SD_JWT_FORMAT, CP1_FORMAT)}
    return RefreshState(token.refresh_token, token.dpop_key, meta.credential_issuer, meta.token_endpoint,
                        meta.credential_endpoint, meta.nonce_endpoint, configs)


def _take_sd_jwt(
    peer: Peer,
    meta: IssuerMetadata,
    token: _Token,
    config_id: str,
    got: _Received,
    *,
    count: int,
    trust: TrustSnapshot,
    now: int,
    new_key: Callable[[], SigningKey],
) -> None:
    config = meta.configurations[config_id]
    keys = [new_key() for _ in range(count)]
    creds, nid = _request_credentials(peer, meta, token, config_id, keys, now=now)
    got.notifications += [nid] if nid else []
    vct = config.get("vct")
    expected = vct if isinstance(vct, str) else None
    got.sd_jwts = [
        SdJwtCopy(check_sd_jwt(c, k, trust=trust, now=now, expected_vct=expected), k)
        for c, k in zip(creds, keys, strict=True)
    ]
    facts = [sd_jwt_facts(c.text) for c in got.sd_jwts]
    if any((f.vct, f.issuer) != (facts[0].vct, facts[0].issuer) for f in facts):
        raise CredentialRejectedError("the SD-JWT VCs of one batch differ in type or issuer", check="format",
                                      reason="wrong_type")  # fmt: skip
    got.facts = facts[0]
    got.name = _display_name(config)
