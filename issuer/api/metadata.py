"""Issuer and authorization-server metadata documents (OpenID4VCI 1.0 §12.2, RFC 8414).

How the compact copies travel: each credential type with a CP1 profile has a second configuration,
``<Type>_cp1``, of format ``civicpass-cp1``. Its ``credential`` values are base64url(COSE_Sign1), one per
proof in ``proofs.jwt`` (batch issuance, §8.2), each bound to that proof's key. A wallet redeems one
offer with one access token for both: one request for the SD-JWT VC, one for N copies.
"""

from __future__ import annotations

from typing import Any

from issuer.issuance import CP1_FORMAT
from issuer.offers import PRE_AUTH_GRANT
from issuer.service import IssuerService

__all__ = ["authorization_server_metadata", "credential_issuer_metadata", "jwt_vc_issuer_metadata"]

_PROOFS = {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}}


def credential_issuer_metadata(service: IssuerService) -> dict[str, Any]:
    base = service.base_url
    configs: dict[str, Any] = {}
    for config_id, (ctype, fmt) in service.oid4vci.configurations().items():
        entry: dict[str, Any] = {
            "format": fmt,
            "vct": ctype.vct,
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": _PROOFS,
            "credential_metadata": {
                "display": [{"name": ctype.name, "locale": "en"}],
                "claims": [{"path": [name]} for name in ctype.claim_names],
            },
        }
        if fmt == CP1_FORMAT:
            entry["profile"] = ctype.cp1_profile
            entry["credential_metadata"]["claims"] = [{"path": [name]} for name in ctype.cp1_claims]
        configs[config_id] = entry
    return {
        "credential_issuer": base,
        "authorization_servers": [base],
        "credential_endpoint": f"{base}/credential",
        "nonce_endpoint": f"{base}/nonce",
        "notification_endpoint": f"{base}/notification",
        "batch_credential_issuance": {"batch_size": service.settings.batch_size},
        "display": [{"name": service.settings.issuer_name, "locale": "en"}],
        "credential_configurations_supported": configs,
    }


def authorization_server_metadata(service: IssuerService) -> dict[str, Any]:
    base = service.base_url
    refresh = service.settings.refresh_batches_per_day > 0
    return {
        "issuer": base,
        "token_endpoint": f"{base}/token",
        "grant_types_supported": [PRE_AUTH_GRANT] + (["refresh_token"] if refresh else []),
        # RFC 9449 §5.1: a wallet that proves a key gets tokens bound to it, and a refresh token
        "dpop_signing_alg_values_supported": ["ES256"],
        "pre-authorized_grant_anonymous_access_supported": True,
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    }


def jwt_vc_issuer_metadata(service: IssuerService) -> dict[str, Any] | None:
    """JWT VC Issuer Metadata (SD-JWT VC §3.5 and its metadata section): ``issuer`` (our ``iss``) and ``jwks``.

    Every key the chain has registered for us is listed, rotated-out ones included (they stay valid for what
    they signed), each with ``kid`` = its RFC 7638 thumbprint, the ``kid`` our credentials carry. A key the
    chain does not know is never listed: civicpass verifiers refuse a key set that disagrees with the chain.
    None when our ``iss`` is not an HTTP(S) URL (an issuer accredited under its did:ethr).
    """
    iss = service.issuer_id
    if not iss.startswith(("https://", "http://")):
        return None
    keys = [
        {**k.public_jwk, "kid": k.thumbprint, "use": "sig", "alg": "ES256"}
        for k in service.keys.all()
        if k.on_chain or service.chain is None
    ]
    return {"issuer": iss, "jwks": {"keys": keys}}
