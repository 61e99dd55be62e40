"""OpenID4VCI 1.0 credential offers (§4.1): parse the offer URI or QR, by value or by reference.

An offer reaches the wallet as ``openid-credential-offer://?credential_offer=<JSON>`` or
``...?credential_offer_uri=<https URL>`` (exactly one of the two, §4.1), typically as a QR code. Only the
pre-authorized code grant is used by civicpass (the clerk checked papers at the counter), so an offer
without it is refused with a clear code rather than half-handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from credcore.errors import CredError
from credcore.keys import parse_json_object
from wallet_sdk._http import Peer
from wallet_sdk.errors import PresentationRequestError

__all__ = ["OFFER_SCHEME", "PRE_AUTH_GRANT", "CredentialOffer", "TxCode", "parse_offer", "resolve_offer"]

OFFER_SCHEME: Final = "openid-credential-offer"
PRE_AUTH_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
_MAX_URI: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class TxCode:
    """§4.1.1 ``tx_code``: how the transaction code the holder must type looks (it is sent out of band)."""

    input_mode: str = "numeric"
    length: int | None = None
    description: str | None = None

    def accepts(self, code: str) -> bool:
        if self.length is not None and len(code) != self.length:
            return False
        return code.isdigit() if self.input_mode == "numeric" else bool(code)


@dataclass(frozen=True, slots=True)
class CredentialOffer:
    credential_issuer: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str
    tx_code: TxCode | None
    authorization_server: str | None = None


def _bad(detail: str) -> PresentationRequestError:
    return PresentationRequestError(f"credential offer: {detail}")


def parse_offer(obj: Mapping[str, Any], *, peer: Peer) -> CredentialOffer:
    """Validate a credential offer object (§4.1.1)."""
    issuer = peer.url(obj.get("credential_issuer"), "credential_issuer")
    ids = obj.get("credential_configuration_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise _bad("'credential_configuration_ids' must be a non-empty list of strings")
    if len(set(ids)) != len(ids):
        raise _bad("'credential_configuration_ids' repeats an id")
    grants = obj.get("grants")
    grant = grants.get(PRE_AUTH_GRANT) if isinstance(grants, dict) else None
    if not isinstance(grant, dict):
        raise _bad("no pre-authorized code grant (civicpass wallets accept only that grant)")
    code = grant.get("pre-authorized_code")
    if not isinstance(code, str) or not code:
        raise _bad("'pre-authorized_code' missing")
    tx = grant.get("tx_code")
    tx_code = None
    if tx is not None:
        if not isinstance(tx, dict):
            raise _bad("'tx_code' is not an object")
        mode, length, desc = tx.get("input_mode", "numeric"), tx.get("length"), tx.get("description")
        if mode not in ("numeric", "text") or not (length is None or (isinstance(length, int) and 0 < length < 100)):
            raise _bad("'tx_code' has an unknown input_mode or a bad length")
        tx_code = TxCode(mode, length, str(desc)[:300] if isinstance(desc, str) else None)
    server = grant.get("authorization_server")
    if server is not None:
        server = peer.url(server, "authorization_server")
    return CredentialOffer(issuer, tuple(ids), code, tx_code, server)


def resolve_offer(text: str, *, peer: Peer) -> CredentialOffer:
    """Parse an offer URI (``openid-credential-offer://`` or an https link with the same parameters).

    ``credential_offer_uri`` is fetched with GET (§4.1.3) through ``peer``.
    """
    text = text.strip()
    if len(text) > _MAX_URI:
        raise _bad("offer URI is too long")
    parts = urlsplit(text)
    if parts.scheme not in (OFFER_SCHEME, "https", "http"):
        raise _bad("not an openid-credential-offer:// URI")
    params = parse_qs(parts.query, keep_blank_values=True)
    by_value, by_ref = params.get("credential_offer"), params.get("credential_offer_uri")
    if bool(by_value) == bool(by_ref) or len(by_value or by_ref or []) != 1:
        raise _bad("exactly one of credential_offer and credential_offer_uri is required")
    try:
        if by_value:
            obj = parse_json_object(by_value[0].encode(), "credential offer")
        else:
            url = peer.url(by_ref[0] if by_ref else None, "credential_offer_uri")
            obj = peer.request("GET", url, what="credential offer", headers={"accept": "application/json"}).json(
                "credential offer"
            )
    except PresentationRequestError:
        raise
    except CredError as exc:
        if exc.code.startswith("wallet_"):
            raise
        raise _bad("offer is not a JSON object") from None
    return parse_offer(obj, peer=peer)
