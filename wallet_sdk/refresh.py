"""New batches of a held credential without a new offer: OAuth refresh (RFC 6749 §6) bound by DPoP (RFC 9449).

When the issuer bound the tokens of an offer to the wallet's DPoP key it also gave a refresh token
(:mod:`wallet_sdk.receive` keeps both in the credential's sealed record). :func:`refresh_credential` trades
it, with a fresh DPoP proof by that key, for an access token, then asks for one new batch per configuration
(the SD-JWT VCs and the CP1 copies, as many as the record held, each on a new holder key), checks every
credential as on receipt, and replaces the record's copies: all unused again. The issuer refuses once the
credential is revoked (the wallet records ``revoked`` and forgets the refresh token) or while it is
suspended, and limits refreshes per day.

:func:`top_up` is the "by itself" part: it refreshes every refreshable credential whose unused copies ran
low (CP1 copies at or below :data:`wallet_sdk.present.LOW_COPIES`, or a batch of SD-JWT VCs all shown).
Apps call it whenever they are online (at start, after a showing); it never raises for one credential.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from credcore.errors import CredError
from credcore.keys import SigningKey
from credcore.trust import TrustSnapshot
from wallet_sdk._dpop import dpop_signer
from wallet_sdk._http import Peer
from wallet_sdk.checks import CP1_FORMAT, SD_JWT_FORMAT, check_cp1_copy
from wallet_sdk.errors import CredentialRejectedError, IssuerRefusedError, WalletNotRefreshableError
from wallet_sdk.present import LOW_COPIES
from wallet_sdk.receive import IssuerMetadata, _Received, _request_credentials, _take_sd_jwt, _token_response
from wallet_sdk.records import StoredCredential
from wallet_sdk.store import Wallet

__all__ = ["TopUp", "refresh_credential", "top_up"]


def refresh_credential(
    wallet: Wallet,
    credential_id: str,
    *,
    http: httpx.Client,
    trust: TrustSnapshot,
    now: int,
    allow_http: bool = False,
    new_key: Callable[[], SigningKey] = SigningKey.generate,
) -> StoredCredential:
    """Fetch a new batch of ``credential_id`` by refresh and store it in place of the old copies.

    Raises:
        WalletNotRefreshableError: the issuer gave no refresh token for this credential.
        IssuerRefusedError: refused (``context['code']``: ``refresh_credential_revoked`` (recorded, the refresh
            token is dropped), ``refresh_credential_suspended`` (recorded), ``refresh_limit_reached``, ...).
        CredentialRejectedError: a new credential failed its checks; nothing was replaced.
    """
    cid = wallet.resolve(credential_id)
    record = wallet.load(cid)
    state = record.refresh
    if state is None:
        raise WalletNotRefreshableError(credential_id=cid)
    peer = Peer(http, allow_http=allow_http)
    form = {"grant_type": "refresh_token", "refresh_token": state.refresh_token}
    proofs = dpop_signer(state.dpop_key, method="POST", url=state.token_endpoint, now=now)
    try:
        body = peer.request("POST", state.token_endpoint, what="refresh", data=form, dpop=proofs).json(
            "token response")
    except IssuerRefusedError as exc:
        _note_refusal(wallet, record, str(exc.context.get("code", "")), now)
        raise
    token = _token_response(body, state.dpop_key)
    meta = IssuerMetadata(
        credential_issuer=state.credential_issuer, credential_endpoint=state.credential_endpoint,
        token_endpoint=state.token_endpoint, nonce_endpoint=state.nonce_endpoint, notification_endpoint=None,
        batch_size=max(1, len(record.sd_jwts), len(record.copies)),
        configurations={c: {"format": f, "vct": record.vct} for c, f in state.configurations.items()}, dpop=True,
    )  # fmt: skip
    got = _Received(state.credential_issuer)
    for config_id, fmt in state.configurations.items():
        if fmt == SD_JWT_FORMAT and record.sd_jwts:
            _take_sd_jwt(peer, meta, token, config_id, got, count=len(record.sd_jwts), trust=trust, now=now,
                         new_key=new_key)
        elif fmt == CP1_FORMAT and record.copies:
            keys = [new_key() for _ in record.copies]
            creds, _ = _request_credentials(peer, meta, token, config_id, keys, now=now)
            base = got.status_base() if got.facts else (record.status.uri.rsplit("/status-lists/", 1)[0]
                                                         if record.status else state.credential_issuer)
            got.copies = [check_cp1_copy(c, k, trust=trust, now=now, status_base=base)
                          for c, k in zip(creds, keys, strict=True)]
    if got.facts is not None and (got.facts.vct, got.facts.issuer) != (record.vct, record.issuer):
        raise CredentialRejectedError("the refreshed credential is of another type or issuer", check="format",
                                      reason="wrong_type")  # fmt: skip
    got.check_same_type()
    first = got.sd_jwts[0] if got.sd_jwts else None
    fresh = dataclasses.replace(
        record,
        sd_jwt=first.text if first else record.sd_jwt,
        sd_jwt_key=first.holder_key if first else record.sd_jwt_key,
        more_sd_jwts=tuple(got.sd_jwts[1:]) if first else record.more_sd_jwts,
        copies=tuple(got.copies) if got.copies else record.copies,
        issued_at=got.facts.issued_at if got.facts else record.issued_at,
    )
    wallet.refill(fresh)
    return fresh


def _note_refusal(wallet: Wallet, record: StoredCredential, code: str, now: int) -> None:
    if code == "refresh_credential_revoked":
        wallet.record_status(record.id, "revoked", now)
        wallet.replace(dataclasses.replace(record, refresh=None))  # the grant is dead: forget its token
    elif code == "refresh_credential_suspended":
        wallet.record_status(record.id, "suspended", now)


@dataclass(frozen=True, slots=True)
class TopUp:
    """What :func:`top_up` did for one credential: ``refreshed``, or the code of why not."""

    credential_id: str
    outcome: str


def _low(wallet: Wallet, credential_id: str, low: int) -> bool:
    s = wallet.summary(credential_id)
    cp1_low = bool(s.copy_profiles) and len(s.unused()) <= low
    sd_low = s.sd_jwt_count > 1 and not s.unused_sd_jwts()
    return cp1_low or sd_low


def top_up(
    wallet: Wallet,
    *,
    http: httpx.Client,
    trust: TrustSnapshot,
    now: int,
    low: int = LOW_COPIES,
    allow_http: bool = False,
) -> list[TopUp]:
    """Refresh every refreshable, not revoked credential whose unused copies ran low. Never raises for one."""
    done = []
    for s in wallet.summaries():
        if not s.refreshable or s.status == "revoked" or not _low(wallet, s.id, low):
            continue
        try:
            refresh_credential(wallet, s.id, http=http, trust=trust, now=now, allow_http=allow_http)
            done.append(TopUp(s.id, "refreshed"))
        except CredError as exc:
            code: Any = exc.context.get("code") if isinstance(exc, IssuerRefusedError) else None
            done.append(TopUp(s.id, str(code or exc.code)))
    return done
