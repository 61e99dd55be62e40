"""OpenID4VP 1.0 cross-device flow: presentation requests, signed request objects, direct_post answers.

Choices (OpenID4VP 1.0 section numbers in brackets):
- Client identifier prefix ``decentralized_identifier:`` [5.9.3] with a ``did:key`` (P-256) of the
  verifier's request-signing key. The request object must then be signed by a key of that DID, which a
  wallet resolves offline from the identifier itself: no CA, no metadata fetch. (``redirect_uri:`` forbids
  signed requests; ``x509_san_dns:`` needs a certificate chain the city does not have in dev. A production
  deployment with a public TLS name can move to ``x509_san_dns:`` by changing only ``client_id`` and
  adding ``x5c``.)
- The request is passed by reference [5.10]: the ``openid4vp://`` URI carries only ``client_id`` and
  ``request_uri``; the wallet GETs a JWS with ``typ: oauth-authz-req+jwt`` (RFC 9101).
- ``response_mode: direct_post`` [8.2] to one response endpoint; ``state`` finds the request.
- A DCQL query [6] derived from the policy: one credential query ``cred`` of format ``dc+sd-jwt`` with
  the policy's ``vct`` values and a claims path per claim the policy reads (data minimisation).
- The KB-JWT must carry this request's ``nonce`` and ``aud`` = our client_id [B.3.6]. Each request is
  answered once: the first POST with its ``state`` claims it atomically, so state and nonce are single
  use; requests expire after ``request_ttl_s``.

Requests live in a SQL table, so any worker can serve the request object, the answer and the polling.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import segno
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, Text, delete, select, update

from credcore import jws
from credcore.did import did_key
from credcore.errors import CredError, MalformedInputError
from credcore.keys import SigningKey
from credcore.ports import Clock
from verifier._db import create_tables
from verifier.errors import RequestExpiredError, RequestUsedError, UnknownRequestError
from verifier.policies import Policy
from verifier.service import Verdict, VerifierService
from verifier.settings import VerifierSettings

__all__ = ["CREDENTIAL_QUERY_ID", "PresentationRequest", "PresentationRequests", "dcql_query"]

CREDENTIAL_QUERY_ID: Final = "cred"
REQUEST_TYP: Final = "oauth-authz-req+jwt"
#: RFC 9101 / OpenID4VP 5.8: audience of a request object for wallets discovered statically.
WALLET_AUDIENCE: Final = "https://self-issued.me/v2"
PENDING, ANSWERED, DONE, ERROR = "pending", "answered", "done", "error"

metadata = MetaData()
requests_table: Final = Table(
    "verifier_presentation_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("state", String(64), nullable=False, unique=True),
    Column("nonce", String(64), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),
)

def dcql_query(policy: Policy) -> dict[str, Any]:
    """The DCQL query asking for exactly what ``policy`` reads."""
    claims = [{"path": claim.split("/")} for claim in policy.claims_needed()]
    query: dict[str, Any] = {"id": CREDENTIAL_QUERY_ID, "format": "dc+sd-jwt",
                             "meta": {"vct_values": list(policy.credential_types)}}
    if claims:
        query["claims"] = claims
    return {"credentials": [query]}


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    id: str
    state: str
    nonce: str
    policy: str
    created_at: int
    expires_at: int
    status: str
    result: Mapping[str, Any] | None

    def status_at(self, now: int) -> str:
        return "expired" if self.status == PENDING and now >= self.expires_at else self.status

    def to_json(self, now: int) -> dict[str, Any]:
        return {"id": self.id, "policy": self.policy, "status": self.status_at(now), "expires_at": self.expires_at,
                "result": self.result}


def _signing_key(settings: VerifierSettings) -> SigningKey:
    if settings.request_signing_jwk is not None:
        return SigningKey.from_jwk(json.loads(settings.request_signing_jwk.get_secret_value()))
    # Dev: one key per data directory, kept so printed QR codes stay valid across restarts. Workers starting
    # together race to create it: O_EXCL picks one winner and the others read what it wrote.
    path: Path = settings.data_dir / "request-signing-key.jwk"
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate("P-256")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):
            try:
                return SigningKey.from_jwk(json.loads(path.read_text()))
            except ValueError:  # the winner is still writing
                time.sleep(0.02)
        raise
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(key.to_jwk()))
    return key


class PresentationRequests:
    def __init__(self, *, engine: Engine, clock: Clock, key: SigningKey, base_url: str, ttl_s: int,
                 token: Callable[[], str] = lambda: secrets.token_urlsafe(18)) -> None:
        self.engine = engine
        self.clock = clock
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self._token = token
        if key.curve != "P-256":
            raise MalformedInputError("request signing key must be P-256 (ES256)")
        self.did = did_key(key.public_key)
        self.client_id = f"decentralized_identifier:{self.did}"
        self.kid = f"{self.did}#{self.did.removeprefix('did:key:')}"
        create_tables(metadata, engine)

    @classmethod
    def from_settings(cls, settings: VerifierSettings, engine: Engine, clock: Clock) -> PresentationRequests:
        return cls(engine=engine, clock=clock, key=_signing_key(settings), base_url=settings.base_url,
                   ttl_s=settings.request_ttl_s)

    @property
    def response_uri(self) -> str:
        return f"{self.base_url}/v1/openid4vp/response"

    def request_uri(self, request_id: str) -> str:
        return f"{self.base_url}/v1/requests/{request_id}/request.jwt"

    # --- verifier side ---------------------------------------------------------------------------------
    def create(self, policy: Policy) -> tuple[PresentationRequest, str, str]:
        """A new request for ``policy``; returns it, the ``openid4vp://`` URI and a PNG data URL of its QR."""
        now = self.clock.now()
        req = PresentationRequest(self._token(), self._token(), self._token(), policy.name, now, now + self.ttl_s,
                                  PENDING, None)
        with self.engine.begin() as conn:
            conn.execute(requests_table.insert().values(
                id=req.id, state=req.state, nonce=req.nonce, policy=req.policy, created_at=req.created_at,
                expires_at=req.expires_at, status=req.status, result=None))
        uri = "openid4vp://?" + urlencode({"client_id": self.client_id, "request_uri": self.request_uri(req.id)})
        qr = segno.make(uri, error="m").png_data_uri(scale=6, border=4)
        return req, uri, qr

    def get(self, request_id: str) -> PresentationRequest:
        with self.engine.connect() as conn:
            row = conn.execute(select(requests_table).where(requests_table.c.id == request_id)).mappings().first()
        if row is None:
            raise UnknownRequestError("no presentation request with that id")
        result = json.loads(row["result"]) if row["result"] else None
        return PresentationRequest(row["id"], row["state"], row["nonce"], row["policy"], row["created_at"],
                                   row["expires_at"], row["status"], result)

    def request_object(self, request_id: str, policy: Policy) -> str:
        """The signed request object (JWS, ``typ: oauth-authz-req+jwt``) for a pending request."""
        req = self.get(request_id)
        now = self.clock.now()
        if req.status_at(now) == "expired":
            raise RequestExpiredError("presentation request has expired")
        if req.status != PENDING:
            raise RequestUsedError("presentation request was already answered")
        # No ``iss``: OpenID4VP 1.0 section 5 has wallets ignore it, and widely used wallets that do read it
        # require the header ``kid`` to start with it, which a prefixed client_id never does.
        payload = {
            "aud": WALLET_AUDIENCE,
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri,
            "nonce": req.nonce,
            "state": req.state,
            "dcql_query": dcql_query(policy),
            "client_metadata": {"vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"],
                                                                       "kb-jwt_alg_values": ["ES256"]}}},
            "iat": now,
            "exp": req.expires_at,
        }
        return jws.sign(payload, self.key, header={"typ": REQUEST_TYP, "kid": self.kid})

    def purge(self, keep_s: int = 24 * 3600) -> int:
        """Forget requests that expired more than ``keep_s`` ago (their results were for the moment only)."""
        cutoff = self.clock.now() - keep_s
        with self.engine.begin() as conn:
            return int(conn.execute(delete(requests_table).where(requests_table.c.expires_at < cutoff)).rowcount)

    # --- wallet answers ------------------------------------------------------------------------------------
    def claim(self, state: str) -> PresentationRequest:
        """Take the request named by ``state`` for answering, exactly once (atomic UPDATE ... WHERE pending)."""
        now = self.clock.now()
        t = requests_table
        with self.engine.begin() as conn:
            row = conn.execute(select(t.c.id).where(t.c.state == state)).first()
            if row is None:
                raise UnknownRequestError("no presentation request with that state")
            taken = conn.execute(update(t).where(t.c.id == row.id, t.c.status == PENDING, t.c.expires_at > now)
                                 .values(status=ANSWERED)).rowcount
        req = self.get(row.id)
        if taken != 1:
            if req.status_at(now) == "expired":
                raise RequestExpiredError("presentation request has expired")
            raise RequestUsedError("presentation request was already answered")
        return req

    def finish(self, request_id: str, status: str, result: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(requests_table).where(requests_table.c.id == request_id)
                         .values(status=status, result=json.dumps(result, separators=(",", ":"))))

    def answer(self, form: Mapping[str, str], verifier: VerifierService) -> PresentationRequest:
        """Handle a ``direct_post`` body: ``vp_token`` + ``state``, or ``error`` + ``state`` [8.2, 8.5]."""
        state = form.get("state")
        if not state:
            raise MalformedInputError("direct_post answer has no state")
        req = self.claim(state)
        if "error" in form:
            self.finish(req.id, ERROR, {"verified": False, "code": "wallet_error",
                                        "error": str(form["error"])[:64]})
            return self.get(req.id)
        try:
            presentation = self._presentation(form.get("vp_token"))
        except MalformedInputError as exc:
            self.finish(req.id, DONE, {"verified": False, "code": "malformed_vp_token", "detail": exc.detail})
            raise
        try:
            verdict: Verdict = verifier.verify(presentation, req.policy, nonce=req.nonce, audience=self.client_id)
        except CredError as exc:  # the replay cache is down: the request is spent, say why
            self.finish(req.id, ERROR, {"verified": False, "code": exc.code})
            raise
        self.finish(req.id, DONE, verdict.to_json())
        return self.get(req.id)

    @staticmethod
    def _presentation(vp_token: str | None) -> str:
        # OpenID4VP 1.0 8.1: vp_token is a JSON object keyed by credential query id, each an array.
        if not vp_token:
            raise MalformedInputError("direct_post answer has no vp_token")
        try:
            obj = json.loads(vp_token)
        except ValueError:
            raise MalformedInputError("vp_token is not JSON") from None
        items = obj.get(CREDENTIAL_QUERY_ID) if isinstance(obj, dict) else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], str):
            raise MalformedInputError("vp_token must hold exactly one presentation for 'cred'")
        return items[0]
