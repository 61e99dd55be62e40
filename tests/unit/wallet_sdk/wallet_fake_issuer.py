"""An OpenID4VCI 1.0 issuer written from the spec for the wallet's tests, served over ``httpx.MockTransport``.

It is deliberately strict where the spec says MUST (form-encoded token request, bearer token, one
``c_nonce`` per credential request, proofs with ``typ`` / ``jwk`` / ``aud`` / ``nonce``), so a wallet
that cuts a corner fails here, and it can misbehave on request (``tamper``) so tests can watch the
wallet refuse. The real issuer service is exercised in tests/e2e; this fake keeps unit tests fast.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

import httpx

from credcore import jws
from credcore._b64 import b64u_encode
from credcore._defaults import SecretsSaltSource
from credcore.cp1 import issue_cp1
from credcore.keys import PublicKey, SigningKey
from credcore.sdjwt import issue_sd_jwt_vc
from credcore.trust import TrustSnapshot

ISSUER_URL = "https://issuer.example/city"
ISSUER_ID = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"
RESIDENT_VCT = "urn:civicpass:ResidentCredential:1"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CLAIMS = {
    "name": "Kim Minji",
    "birth_date": "1990-04-01",
    "city": "Busan",
    "district": "Haeundae-gu",
    "age_over_19": True,
}
CP1_CLAIMS = {"city": 26000, "district": 26350, "age_over_19": True}


@dataclass
class FakeIssuer:
    now: int
    key: SigningKey = field(default_factory=SigningKey.generate)
    pin: str = "493817"
    batch_size: int = 5
    cp1_format: str = "civicpass-cp1"
    tamper: str = ""  # "signature" | "foreign_key" | "holder" | "vct" | "count" | "deferred" | "metadata_issuer"
    codes: dict[str, bool] = field(default_factory=dict)  # pre-authorized code -> redeemed
    tokens: dict[str, set[str]] = field(default_factory=dict)  # access token -> configurations left
    nonces: set[str] = field(default_factory=set)
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)
    proofs_seen: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    status_list_jwt: str = ""
    notification_id: str = ""  # one id for every credential response of an offer, as civicpass issuers give

    # --- helpers for tests -----------------------------------------------------------------------------
    def trust(self) -> TrustSnapshot:
        # With its kid, as civicpass issuers publish keys: a kid-less JWK would answer to any header kid.
        jwk = {**self.key.public_key.to_jwk(), "kid": self.key.public_key.thumbprint()}
        return TrustSnapshot.from_issuer_jwks({ISSUER_ID: [jwk]})

    def offer(
        self, *, by_reference: bool = False, configs: tuple[str, ...] = ("resident_sd_jwt", "resident_cp1")
    ) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = False
        offer = {
            "credential_issuer": ISSUER_URL,
            "credential_configuration_ids": list(configs),
            "grants": {PRE_AUTH: {"pre-authorized_code": code, "tx_code": {"input_mode": "numeric", "length": 6}}},
        }
        if by_reference:
            oid = secrets.token_hex(4)
            self.offers[oid] = offer
            return "openid-credential-offer://?credential_offer_uri=" + quote(f"{ISSUER_URL}/offers/{oid}", safe="")
        return "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer), safe="")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    # --- the endpoints ---------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        routes = {
            ("GET", "https://issuer.example/.well-known/openid-credential-issuer/city"): self.metadata,
            ("GET", "https://issuer.example/.well-known/oauth-authorization-server/city"): self.as_metadata,
            ("POST", f"{ISSUER_URL}/token"): self.token,
            ("POST", f"{ISSUER_URL}/nonce"): self.nonce,
            ("POST", f"{ISSUER_URL}/credential"): self.credential,
            ("POST", f"{ISSUER_URL}/notification"): self.notification,
        }
        if request.method == "GET" and url.startswith(f"{ISSUER_URL}/offers/"):
            offer = self.offers.get(url.rsplit("/", 1)[1])
            return httpx.Response(200, json=offer) if offer else httpx.Response(404)
        if request.method == "GET" and url == f"{ISSUER_URL}/status-lists/1":
            return httpx.Response(
                200, text=self.status_list_jwt, headers={"content-type": "application/statuslist+jwt"}
            )
        handler = routes.get((request.method, url))
        return handler(request) if handler else httpx.Response(404, json={"error": "not_found"})

    def metadata(self, _: httpx.Request) -> httpx.Response:
        issuer = "https://evil.example" if self.tamper == "metadata_issuer" else ISSUER_URL
        binding = {
            "cryptographic_binding_methods_supported": ["jwk"],
            "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
        }
        return httpx.Response(200, json={
            "credential_issuer": issuer,
            "credential_endpoint": f"{ISSUER_URL}/credential",
            "nonce_endpoint": f"{ISSUER_URL}/nonce",
            "notification_endpoint": f"{ISSUER_URL}/notification",
            "batch_credential_issuance": {"batch_size": self.batch_size},
            "credential_configurations_supported": {
                "resident_sd_jwt": {"format": "dc+sd-jwt", "vct": RESIDENT_VCT, **binding,
                                    "credential_metadata": {"display": [{"name": "Resident credential"}]}},
                "resident_cp1": {"format": self.cp1_format, "profile": "resident-basic", **binding},
            },
        })  # fmt: skip

    def as_metadata(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": ISSUER_URL, "token_endpoint": f"{ISSUER_URL}/token",
                                         "pre-authorized_grant_anonymous_access_supported": True})  # fmt: skip

    def token(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return httpx.Response(400, json={"error": "invalid_request"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        code = form.get("pre-authorized_code", "")
        if form.get("grant_type") != PRE_AUTH or code not in self.codes or self.codes[code]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        if form.get("tx_code") != self.pin:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "wrong tx_code"})
        self.codes[code] = True
        token = secrets.token_urlsafe(16)
        self.tokens[token] = {"resident_sd_jwt", "resident_cp1"}
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def nonce(self, _: httpx.Request) -> httpx.Response:
        value = secrets.token_urlsafe(16)
        self.nonces.add(value)
        return httpx.Response(200, json={"c_nonce": value}, headers={"cache-control": "no-store"})

    def notification(self, request: httpx.Request) -> httpx.Response:
        self.notifications.append(json.loads(request.content))
        return httpx.Response(204)

    def credential(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in self.tokens:
            return httpx.Response(401, json={"error": "invalid_token"})
        body = json.loads(request.content)
        config = body.get("credential_configuration_id")
        if config not in self.tokens[token] or "proof" in body:
            return httpx.Response(400, json={"error": "invalid_credential_request"})
        proofs = body.get("proofs", {}).get("jwt", [])
        if not 1 <= len(proofs) <= self.batch_size or (config == "resident_sd_jwt" and len(proofs) != 1):
            return httpx.Response(400, json={"error": "invalid_proof"})
        keys = []
        for proof in proofs:
            parsed = jws.parse(proof, typ="openid4vci-proof+jwt")
            key = PublicKey.from_jwk(parsed.header["jwk"])
            self.proofs_seen.append({"header": parsed.header, "payload": parsed.payload})
            if not parsed.verify_with(key) or parsed.payload.get("aud") != ISSUER_URL:
                return httpx.Response(400, json={"error": "invalid_proof"})
            keys.append(key)
        nonce_values = {jws.parse(p).payload.get("nonce") for p in proofs}
        if self.tamper == "stale_nonce_once":
            self.tamper = ""
            return httpx.Response(400, json={"error": "invalid_nonce"})
        if len(nonce_values) != 1 or next(iter(nonce_values)) not in self.nonces or len(set(keys)) != len(keys):
            return httpx.Response(400, json={"error": "invalid_nonce"})
        self.nonces.discard(next(iter(nonce_values)))
        self.tokens[token].discard(config)
        if self.tamper == "deferred":
            return httpx.Response(202, json={"transaction_id": "t1"})
        creds = [self._issue(config, k, i) for i, k in enumerate(keys)]
        if self.tamper == "count":
            creds = creds[:-1] or creds + creds
        answer = {"credentials": [{"credential": c} for c in creds], "notification_id": self.notification_id or config}
        return httpx.Response(200, json=answer)

    def _issue(self, config: str, holder: PublicKey, i: int) -> str:
        signer = SigningKey.generate() if self.tamper == "foreign_key" else self.key
        bound = SigningKey.generate().public_key if self.tamper == "holder" else holder
        if config == "resident_sd_jwt":
            text = issue_sd_jwt_vc(
                CLAIMS, vct="urn:civicpass:MerchantCredential:1" if self.tamper == "vct" else RESIDENT_VCT,
                issuer=ISSUER_ID, signer=signer, holder_key=bound, iat=self.now - 5, exp=self.now + 86_400,
                salts=SecretsSaltSource(), status={"status_list": {"idx": 7, "uri": f"{ISSUER_URL}/status-lists/1"}},
            )  # fmt: skip
            if self.tamper == "signature":  # same header and payload, signature by another key
                head, body, _ = text.split("~")[0].split(".")
                bad = b64u_encode(SigningKey.generate().sign(f"{head}.{body}".encode()))
                text = f"{head}.{body}.{bad}~" + text.split("~", 1)[1]
            return text
        if self.tamper == "cp1_other_type":
            claims = {"business_number_digest": bytes(16), "market": 1, "small_business": True, "programmes": [1]}
            raw = issue_cp1(claims, profile="merchant-eligibility", signer=signer, holder_key=bound, status_list_id=1,
                            status_index=100 + i, iat=self.now - 5, exp=self.now + 86_400)  # fmt: skip
            return b64u_encode(raw)
        raw = issue_cp1(CP1_CLAIMS, profile="resident-basic", signer=signer, holder_key=bound, status_list_id=1,
                        status_index=100 + i, iat=self.now - 5, exp=self.now + 86_400)  # fmt: skip
        if self.tamper == "signature":  # the COSE_Sign1 ends with the signature
            raw = raw[:-1] + bytes([raw[-1] ^ 1])
        return b64u_encode(raw)
