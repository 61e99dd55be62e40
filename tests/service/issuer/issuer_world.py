"""Test helpers for the issuer service: a settable clock, an in-memory chain, and an OpenID4VCI wallet
client written from the spec (httpx requests, PyJWT proofs; it calls no issuer code)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec

from issuer.anchoring import ChainReceipt
from issuer.settings import IssuerSettings

with warnings.catch_warnings():  # starlette prefers httpx2 for its TestClient; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["BASE", "CLERK", "OPERATOR", "FixedClock", "MemoryChain", "TestClient", "Wallet", "make_settings"]

BASE = "http://issuer.test"
CLERK = {"Authorization": "Bearer dev-clerk-token"}
OPERATOR = {"Authorization": "Bearer dev-operator-token"}
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
GRANT = "urn:civicpass:GrantEligibilityCredential:1"
RESIDENT_CLAIMS = {"name": "김민지", "birth_date": "2000-03-01", "city": "부산광역시", "district": "해운대구",
                   "resident_since": "2019-05-02"}
MERCHANT_CLAIMS = {"business_registration_number": "123-45-67890", "business_name": "민지네 어묵", "owner": "김민지",
                   "market": "자갈치시장", "category": "food", "district": "중구", "small_business": True,
                   "programmes": [7, 3]}
GRANT_CLAIMS = {"programme_id": "market-2027", "programme_name": "Market support 2027", "amount_krw": 500000,
                "valid_until": "2027-12-31", "merchant_reference": "M-0001"}


class FixedClock:
    def __init__(self, now: int | None = None) -> None:
        self.t = int(time.time()) if now is None else now

    def now(self) -> int:
        return self.t

    def advance(self, seconds: int) -> None:
        self.t += seconds


@dataclass
class MemoryChain:
    """A fake ChainGateway: records anchors, status digests and keys; ``down`` makes every call fail."""

    issuer_id: str = "did:ethr:0x539:0x000000000000000000000000000000000000dEaD"
    down: bool = False
    anchors: dict[bytes, int] = field(default_factory=dict)
    anchor_calls: int = 0
    statuses: dict[int, list[bytes]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    block: int = 100

    def _tick(self) -> ChainReceipt:
        if self.down:
            raise ConnectionError("chain down")
        self.block += 1
        return ChainReceipt("0x" + secrets.token_hex(32), self.block)

    def anchor_root(self, root: bytes, count: int) -> ChainReceipt:
        self.anchor_calls += 1
        receipt = self._tick()
        if root in self.anchors:
            raise RuntimeError("AnchorRegistryRootExists")
        self.anchors[root] = count
        return receipt

    def find_anchor(self, root: bytes) -> ChainReceipt | None:
        if self.down:
            raise ConnectionError("chain down")
        return ChainReceipt(None, None) if root in self.anchors else None

    def publish_status(self, list_id: int, digest: bytes, uri: str) -> ChainReceipt:
        receipt = self._tick()
        self.statuses.setdefault(list_id, []).append(digest)
        return receipt

    def add_key(self, key: Any) -> ChainReceipt:
        receipt = self._tick()
        self.keys[key.thumbprint()] = {"valid_until": None}
        return receipt

    def close_key(self, thumbprint: str, not_before: int) -> int:
        self._tick()
        key = self.keys[thumbprint]
        if key["valid_until"] is None:
            key["valid_until"] = not_before
        return int(key["valid_until"])


def make_settings(db_url: str, **overrides: Any) -> IssuerSettings:
    values: dict[str, Any] = {"environment": "test", "database_url": db_url, "base_url": BASE, "run_workers": False,
                              "status_publish_interval": 1.0}
    values.update(overrides)
    return IssuerSettings(**values)


class HolderKey:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))

    def proof(self, *, aud: str, nonce: str | None, iat: int, alg: str = "ES256", typ: str = "openid4vci-proof+jwt",
              jwk: dict[str, Any] | None = None) -> str:
        """A §F.1 ``jwt`` proof: header typ + jwk, claims aud, iat, nonce."""
        claims: dict[str, Any] = {"aud": aud, "iat": iat}
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"typ": typ, "jwk": jwk or self.jwk}
        return pyjwt.encode(claims, self.private, algorithm=alg, headers=headers)


@dataclass
class Offer:
    issuer: str
    code: str
    config_ids: list[str]
    tx_code: dict[str, Any] | None


class Wallet:
    """Just enough OpenID4VCI 1.0 (pre-authorized code flow) to receive credentials."""

    def __init__(self, http: Any, now: int) -> None:
        self.http = http
        self.now = now

    @staticmethod
    def parse_offer(uri: str) -> Offer:
        parts = urlsplit(uri)
        assert parts.scheme == "openid-credential-offer"
        offer = json.loads(parse_qs(parts.query)["credential_offer"][0])
        grant = offer["grants"][PRE_AUTH]
        return Offer(offer["credential_issuer"], grant["pre-authorized_code"], offer["credential_configuration_ids"],
                     grant.get("tx_code"))

    def metadata(self, issuer: str) -> dict[str, Any]:
        r = self.http.get("/.well-known/openid-credential-issuer")
        assert r.status_code == 200
        meta = r.json()
        assert meta["credential_issuer"] == issuer
        return meta

    def token(self, code: str, pin: str | None) -> Any:
        data = {"grant_type": PRE_AUTH, "pre-authorized_code": code}
        if pin is not None:
            data["tx_code"] = pin
        return self.http.post("/token", data=data)

    def nonce(self) -> str:
        r = self.http.post("/nonce")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        return str(r.json()["c_nonce"])

    def request(self, token: str, config_id: str, proofs: list[str]) -> Any:
        body = {"credential_configuration_id": config_id, "proofs": {"jwt": proofs}}
        return self.http.post("/credential", json=body, headers={"Authorization": f"Bearer {token}"})

    def receive(self, uri: str, pin: str, copies: int = 3) -> dict[str, Any]:
        """Redeem an offer: one SD-JWT VC and ``copies`` CP1 copies (when offered). Returns what was received."""
        offer = self.parse_offer(uri)
        meta = self.metadata(offer.issuer)
        r = self.token(offer.code, pin)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        got: dict[str, Any] = {"sd_jwt": None, "cp1": [], "keys": []}
        for config_id in offer.config_ids:
            config = meta["credential_configurations_supported"][config_id]
            n = 1 if config["format"] == "dc+sd-jwt" else copies
            keys = [HolderKey() for _ in range(n)]
            nonce = self.nonce()
            proofs = [k.proof(aud=offer.issuer, nonce=nonce, iat=self.now) for k in keys]
            r = self.request(token, config_id, proofs)
            assert r.status_code == 200, r.text
            creds = [c["credential"] for c in r.json()["credentials"]]
            assert len(creds) == n
            if config["format"] == "dc+sd-jwt":
                got["sd_jwt"], got["sd_key"] = creds[0], keys[0]
            else:
                got["cp1"], got["cp1_keys"] = creds, keys
        return got


def digest_of(text: str) -> bytes:
    return hashlib.sha256(text.encode("ascii")).digest()


def signing_key_of(holder: HolderKey) -> Any:
    """The holder key as a credcore SigningKey, to present what was received."""
    from credcore.keys import SigningKey

    return SigningKey.from_secret("P-256", holder.private.private_numbers().private_value.to_bytes(32, "big"))


def trust_from_issuer(http: Any, issuer_id: str, list_ids: list[int]) -> Any:
    """A TrustSnapshot built only from what the issuer publishes: its keys (windows) and signed status lists."""
    from credcore import jws
    from credcore.keys import PublicKey
    from credcore.status_list import StatusList
    from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

    keys = http.get("/v1/keys", headers=OPERATOR).json()["keys"]
    issuer_keys = tuple(IssuerKey(PublicKey.from_jwk(k["jwk"]), k["valid_from"], k["valid_until"]) for k in keys)
    by_kid = {k.thumbprint: k.public_key for k in issuer_keys}
    records = []
    for list_id in list_ids:
        r = http.get(f"/status-lists/{list_id}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/statuslist+jwt"
        parsed = jws.parse(r.text, typ="statuslist+jwt")
        jws.verify(r.text, by_kid[parsed.header["kid"]], typ="statuslist+jwt")
        uri = parsed.payload["sub"]
        records.append(StatusListRecord(issuer_id, list_id, uri, StatusList.from_json(parsed.payload["status_list"])))
    issuer = TrustedIssuer(issuer_id, "test city", frozenset({RESIDENT, MERCHANT, GRANT}), issuer_keys)
    return TrustSnapshot(issuers=(issuer,), status_lists=tuple(records))


class DpopKey:
    """A wallet's DPoP key, and the nonce the issuer gave it last (RFC 9449 §8), which its proofs carry."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.nonce: str | None = None

    def proof(self, url: str, *, iat: int, token: str | None = None, jti: str | None = None, htm: str = "POST") -> str:
        claims = {"jti": jti or secrets.token_urlsafe(12), "htm": htm, "htu": url, "iat": iat}
        if token is not None:
            claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        if self.nonce is not None:
            claims["nonce"] = self.nonce
        return pyjwt.encode(claims, self.private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})

    def post(self, client, path: str, *, iat: int, token: str | None = None, headers=None, **kw):
        """POST with a proof, as a wallet does: the nonce given last, and once more with a new one if asked."""
        for _ in range(2):
            proof = self.proof(f"{BASE}{path}", iat=iat, token=token)
            r = client.post(path, headers={**(headers or {}), "DPoP": proof}, **kw)
            self.nonce = r.headers.get("dpop-nonce", self.nonce)
            if not (r.status_code in (400, 401) and r.json().get("error") == "use_dpop_nonce"):
                break
        return r
