"""An OpenID4VP 1.0 verifier written from the spec for the wallet's tests (``httpx.MockTransport``).

Signed request objects by reference with a ``decentralized_identifier:did:key`` client id (what the
civicpass verifier uses), optional unsigned ``redirect_uri:`` requests, and a ``direct_post`` endpoint
that verifies each presentation with credcore against the request's nonce and the client id as audience.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

from credcore import jws
from credcore._b64 import b64u_encode
from credcore.did import did_key
from credcore.keys import SigningKey
from credcore.presentations import verify_presentation
from credcore.trust import TrustSnapshot
from credcore.verification import VerificationResult

BASE = "https://verifier.example"


@dataclass
class FakeVerifier:
    now: int
    trust: TrustSnapshot
    key: SigningKey = field(default_factory=SigningKey.generate)
    objects: dict[str, str] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # state -> request payload
    answers: list[dict[str, str]] = field(default_factory=list)
    results: list[VerificationResult] = field(default_factory=list)
    fetch_forms: list[dict[str, str]] = field(default_factory=list)  # request_uri_method=post bodies

    @property
    def client_id(self) -> str:
        return f"decentralized_identifier:{did_key(self.key.public_key)}"

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def request(self, dcql: dict[str, Any], *, tamper: str = "", **overrides: Any) -> str:
        """A new request; returns the openid4vp:// URI. ``tamper``: "foreign_signer" | "kid" | "client_id"."""
        rid, state = secrets.token_hex(4), secrets.token_urlsafe(8)
        payload: dict[str, Any] = {
            "iss": self.client_id, "aud": "https://self-issued.me/v2", "client_id": self.client_id,
            "response_type": "vp_token", "response_mode": "direct_post", "response_uri": f"{BASE}/response",
            "nonce": secrets.token_urlsafe(12), "state": state, "dcql_query": dcql,
            "iat": self.now, "exp": self.now + 300, **overrides,
        }  # fmt: skip
        if tamper == "client_id":
            payload["client_id"] = "decentralized_identifier:did:key:zOther"
        signer = SigningKey.generate() if tamper == "foreign_signer" else self.key
        did = did_key(self.key.public_key)
        kid = f"{did_key(SigningKey.generate().public_key)}#x" if tamper == "kid" else f"{did}#{did[8:]}"
        self.objects[rid] = jws.sign(payload, signer, header={"typ": "oauth-authz-req+jwt", "kid": kid})
        self.pending[state] = payload
        return "openid4vp://?" + urlencode({"client_id": self.client_id, "request_uri": f"{BASE}/requests/{rid}"})

    def unsigned_request(self, dcql: dict[str, Any], *, response_uri: str = f"{BASE}/response") -> str:
        client_id = f"redirect_uri:{BASE}/response"
        state = secrets.token_urlsafe(8)
        payload = {
            "client_id": client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": response_uri,
            "nonce": secrets.token_urlsafe(12),
            "state": state,
            "dcql_query": dcql,
        }
        rid = secrets.token_hex(4)
        header = b64u_encode(json.dumps({"alg": "none"}).encode())
        self.objects[rid] = f"{header}.{b64u_encode(json.dumps(payload).encode())}."
        self.pending[state] = payload
        return "openid4vp://?" + urlencode({"client_id": client_id, "request_uri": f"{BASE}/requests/{rid}"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.method in ("GET", "POST") and url.startswith(f"{BASE}/requests/"):
            if request.method == "POST":
                self.fetch_forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
            token = self.objects.get(url.rsplit("/", 1)[1])
            if token is None:
                return httpx.Response(404, json={"error": "not_found"})
            return httpx.Response(200, text=token, headers={"content-type": "application/oauth-authz-req+jwt"})
        if request.method == "POST" and url == f"{BASE}/response":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.answers.append(form)
            state = form.get("state", next(iter(self.pending), "") if "response" in form else "")
            payload = self.pending.pop(state, None)
            if payload is None:
                return httpx.Response(400, json={"error": "invalid_request", "error_description": "unknown state"})
            if "error" in form:
                return httpx.Response(200, json={})
            if "response" in form:  # direct_post.jwt: the test decrypts and checks it
                return httpx.Response(200, json={})
            for items in json.loads(form["vp_token"]).values():
                for text in items:
                    aud, nonce = payload["client_id"], payload["nonce"]
                    result = verify_presentation(text, trust=self.trust, now=self.now, audience=aud, nonce=nonce)
                    self.results.append(result)
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"error": "not_found"})
