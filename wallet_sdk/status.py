"""Tell the holder whether a credential is still valid, revoked or suspended (IETF Token Status List).

The wallet fetches each status list its credential (and its unspent copies) point to, verifies the
``statuslist+jwt`` under the issuer's keys from the app's :class:`~credcore.trust.TrustSnapshot`
(``kid`` = RFC 7638 thumbprint, else each of the issuer's keys), and reads its own indices. The issuer's
server alone could roll a revocation back or serve a stale list; the chain's StatusRegistry records the
digest of the latest list, and reading the chain is the app's job (wallet_sdk has no chain access), so
the app may hand in ``expected_digests`` (URI -> ``sha256(jwt text)``) and a list that differs is not
believed. Fetching, signature and digest problems give ``status="unknown"`` with a code, never a guess,
and leave the last known status in the wallet untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from credcore.errors import CredError, SignatureError
from credcore.status_list import Status, status_list_digest, verify_status_list_jwt
from credcore.trust import TrustedIssuer, TrustSnapshot
from wallet_sdk._http import Peer
from wallet_sdk.errors import VerifierRefusedError
from wallet_sdk.records import StatusRef
from wallet_sdk.store import Wallet

__all__ = ["StatusReport", "check_status"]

_NAMES: Final[dict[int, str]] = {Status.VALID: "valid", Status.INVALID: "revoked", Status.SUSPENDED: "suspended"}
_RANK: Final = {"valid": 0, "suspended": 1, "revoked": 2}


@dataclass(frozen=True, slots=True)
class StatusReport:
    credential_id: str
    status: str  # "valid" | "revoked" | "suspended" | "unknown"
    checked_at: int
    code: str | None = None  # why it is unknown: wallet_peer_unreachable, signature_invalid, digest_mismatch...
    lists_checked: int = 0

    @property
    def usable(self) -> bool:
        return self.status == "valid"


class _Unknown(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _statuses(
    peer: Peer, uri: str, indices: list[int], issuer: TrustedIssuer, *, now: int, expected: bytes | None
) -> list[str]:
    """The status names at ``indices`` of the verified list at ``uri``; raises :class:`_Unknown`."""
    try:
        token = peer.request("GET", uri, what="status list", headers={"accept": "application/statuslist+jwt"}).text()
        if expected is not None and status_list_digest(token) != expected:
            raise _Unknown("status_list_digest_mismatch")
        parsed = None
        for key in issuer.keys:
            try:
                parsed = verify_status_list_jwt(token, key.public_key, now=now, expected_uri=uri)
                break
            except SignatureError:
                continue
    except CredError as exc:
        raise _Unknown(exc.code) from None
    if parsed is None:
        raise _Unknown("signature_invalid")
    lst = parsed.status_list
    if any(not 0 <= i < lst.size for i in indices):
        raise _Unknown("status_index_out_of_range")
    names = [_NAMES.get(lst.get(i)) for i in indices]
    if None in names:
        raise _Unknown("status_value_unknown")
    return [n for n in names if n is not None]


def check_status(
    wallet: Wallet,
    credential_id: str,
    *,
    http: httpx.Client,
    trust: TrustSnapshot,
    now: int,
    expected_digests: Mapping[str, bytes] | None = None,
    allow_http: bool = False,
) -> StatusReport:
    """Check the status of a stored credential and record it in the wallet (unless it is unknown).

    The result is the worst status over the SD-JWT VC and the unspent CP1 copies (issuers revoke them
    together; a copy revoked alone still means the holder should ask the issuer why).
    """
    record = wallet.load(credential_id)
    used = wallet.summary(record.id).used
    refs: list[StatusRef] = [record.status] if record.status else []
    refs += [c.status for i, c in enumerate(record.copies) if c.status and i not in used]
    if not refs:
        return StatusReport(record.id, "unknown", now, "no_status_reference")
    issuer = trust.issuer_for(record.issuer)
    if issuer is None:
        return StatusReport(record.id, "unknown", now, "issuer_not_accredited")
    peer = Peer(http, allow_http=allow_http, refused=VerifierRefusedError)
    by_uri: dict[str, list[int]] = {}
    for ref in refs:
        by_uri.setdefault(ref.uri, []).append(ref.index)
    names: list[str] = []
    try:
        for uri, indices in by_uri.items():
            names += _statuses(peer, uri, indices, issuer, now=now, expected=(expected_digests or {}).get(uri))
    except _Unknown as exc:
        return StatusReport(record.id, "unknown", now, exc.code)
    worst = max(names, key=_RANK.__getitem__)
    wallet.record_status(record.id, worst, now)
    return StatusReport(record.id, worst, now, None, len(by_uri))
