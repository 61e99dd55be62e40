"""DPoP proofs (RFC 9449 §4) the wallet signs: tokens the issuer binds to this key are useless without it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, Final

from credcore import jws
from credcore._b64 import b64u_encode
from credcore.keys import SigningKey

__all__ = ["DPOP_TYP", "dpop_proof", "dpop_signer"]

DPOP_TYP: Final = "dpop+jwt"


def dpop_proof(key: SigningKey, *, method: str, url: str, now: int, access_token: str | None = None,
               nonce: str | None = None) -> str:
    """One proof for one request: ``htm``/``htu`` name it, a fresh ``jti``, ``ath`` when a token is presented,
    and the server's ``nonce`` when it gave one (§8, §9)."""
    htu = url.split("?", maxsplit=1)[0].split("#", maxsplit=1)[0]
    claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": htu, "iat": now}
    if access_token is not None:
        claims["ath"] = b64u_encode(hashlib.sha256(access_token.encode("ascii")).digest())
    if nonce is not None:
        claims["nonce"] = nonce
    return jws.sign(claims, key, header={"typ": DPOP_TYP, "jwk": key.public_key.to_jwk()})


def dpop_signer(key: SigningKey, *, method: str, url: str, now: int, access_token: str | None = None
                ) -> Callable[[str | None], str]:
    """Proofs for one request, given the server's nonce (or None): what :meth:`wallet_sdk._http.Peer.request` takes
    to sign again when the server asks for a new nonce."""
    return lambda nonce: dpop_proof(key, method=method, url=url, now=now, access_token=access_token, nonce=nonce)
