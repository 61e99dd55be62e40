"""OpenID4VP 1.0 cross-device flow: presentation requests, signed request objects, direct_post answers.

Choices (OpenID4VP 1.0 section numbers in brackets):
- Client identifier prefix ``decentralized_identifier:`` [5.9.3] with a ``did:key`` (P-256) of the
  verifier's request-signing key. The request object must then be signed by a key of that DID, which a
  wallet resolves offline from the identifier itself: no CA, no metadata fetch. (``redirect_uri:`` forbids
  signed requests; ``x509_san_dns:`` needs a certificate chain the city does not have in dev. A production
  deployment with a public TLS name can move to ``x509_san_dns:`` by changing only ``client_id`` and
  adding ``x5c``.)
- The request is passed by reference [5.7]: the ``openid4vp://`` URI carries only ``client_id`` and
  ``request_uri``; the wallet GETs a JWS with ``typ: oauth-authz-req+jwt`` (RFC 9101). A request made with
  ``request_uri_method=post`` [5.10] also says so in the URI; the wallet then POSTs ``wallet_nonce``
  (echoed in the request object) and ``wallet_metadata`` (its encryption and signing algorithms are
  checked against ours; a wallet that supports none of them is refused before it sees the request).
- ``response_mode: direct_post`` [8.2] to one response endpoint; ``state`` finds the request. Or
  ``direct_post.jwt`` [8.3.1]: the answer is ``response=<JWE>``, ECDH-ES on P-256 to a key made for
  this request alone (advertised in ``client_metadata.jwks`` with the request's id as ``kid``, which
  finds the request), A128GCM or A256GCM; the decrypted ``state`` must be that request's. The
  private key lives with the request row and goes when it is purged. A wallet error may come
  unencrypted [8.3.1]; an unencrypted ``vp_token`` for such a request is refused.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import segno
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, Text, delete, select, update

from credcore import jwe, jws
from credcore.did import did_key
from credcore.errors import CredError, MalformedInputError, PayloadTooLargeError
from credcore.keys import SigningKey
from credcore.ports import Clock
from verifier._db import create_tables
from verifier.errors import (
    RequestExpiredError,
    RequestUsedError,
    ResponseModeMismatchError,
    StateMismatchError,
    UnknownRequestError,
    WalletMetadataError,
)
from verifier.policies import Policy
from verifier.service import Verdict, VerifierService
from verifier.settings import VerifierSettings

__all__ = ["CREDENTIAL_QUERY_ID", "PresentationRequest", "PresentationRequests", "dcql_query"]

CREDENTIAL_QUERY_ID: Final = "cred"
REQUEST_TYP: Final = "oauth-authz-req+jwt"
#: RFC 9101 / OpenID4VP 5.8: audience of a request object for wallets discovered statically.
WALLET_AUDIENCE: Final = "https://self-issued.me/v2"
PENDING, ANSWERED, DONE, ERROR = "pending", "answered", "done", "error"
DIRECT_POST, DIRECT_POST_JWT = "direct_post", "direct_post.jwt"
RESPONSE_MODES: Final = (DIRECT_POST, DIRECT_POST_JWT)
REQUEST_URI_METHODS: Final = ("get", "post")
_MAX_WALLET_METADATA: Final = 16 * 1024
_MAX_WALLET_NONCE: Final = 256

metadata = MetaData()
# Named anew when its columns changed: create_all never alters a table, and rows live minutes.
requests_table: Final = Table(
    "verifier_openid4vp_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("state", String(64), nullable=False, unique=True),
    Column("nonce", String(64), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),
    Column("response_mode", String(16), nullable=False),
    Column("response_key", Text, nullable=True),  # direct_post.jwt: this request's private decryption JWK
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
    response_mode: str = DIRECT_POST
    response_key: Mapping[str, str] | None = field(default=None, repr=False)

    def status_at(self, now: int) -> str:
        return "expired" if self.status == PENDING and now >= self.expires_at else self.status

    def to_json(self, now: int) -> dict[str, Any]:
        return {"id": self.id, "policy": self.policy, "status": self.status_at(now), "expires_at": self.expires_at,
                "response_mode": self.response_mode, "result": self.result}


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
                 token: Callable[[], str] = lambda: secrets.token_urlsafe(18), name: str = "") -> None:
        self.engine = engine
        self.name = name
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
                   ttl_s=settings.request_ttl_s, name=settings.client_name)

    @property
    def response_uri(self) -> str:
        return f"{self.base_url}/v1/openid4vp/response"

    def request_uri(self, request_id: str) -> str:
        return f"{self.base_url}/v1/requests/{request_id}/request.jwt"

    # --- verifier side ---------------------------------------------------------------------------------
    def create(self, policy: Policy, *, response_mode: str = DIRECT_POST,
               request_uri_method: str = "get") -> tuple[PresentationRequest, str, str]:
        """A new request for ``policy``; returns it, the ``openid4vp://`` URI and a PNG data URL of its QR."""
        if response_mode not in RESPONSE_MODES or request_uri_method not in REQUEST_URI_METHODS:
            raise MalformedInputError("unsupported response_mode or request_uri_method")
        now = self.clock.now()
        request_id = self._token()
        key = jwe.generate_key(request_id) if response_mode == DIRECT_POST_JWT else None
        req = PresentationRequest(request_id, self._token(), self._token(), policy.name, now, now + self.ttl_s,
                                  PENDING, None, response_mode, key)
        with self.engine.begin() as conn:
            conn.execute(requests_table.insert().values(
                id=req.id, state=req.state, nonce=req.nonce, policy=req.policy, created_at=req.created_at,
                expires_at=req.expires_at, status=req.status, result=None, response_mode=response_mode,
                response_key=json.dumps(key) if key else None))
        params = {"client_id": self.client_id, "request_uri": self.request_uri(req.id)}
        if request_uri_method == "post":
            params["request_uri_method"] = "post"
        uri = "openid4vp://?" + urlencode(params)
        qr = segno.make(uri, error="m").png_data_uri(scale=6, border=4)
        return req, uri, qr

    def get(self, request_id: str) -> PresentationRequest:
        return self._get(requests_table.c.id == request_id, "no presentation request with that id")

    def _get(self, where: Any, missing: str) -> PresentationRequest:
        with self.engine.connect() as conn:
            row = conn.execute(select(requests_table).where(where)).mappings().first()
        if row is None:
            raise UnknownRequestError(missing)
        result = json.loads(row["result"]) if row["result"] else None
        key = json.loads(row["response_key"]) if row["response_key"] else None
        return PresentationRequest(row["id"], row["state"], row["nonce"], row["policy"], row["created_at"],
                                   row["expires_at"], row["status"], result, row["response_mode"], key)

    def request_object(self, request_id: str, policy: Policy, *, wallet_nonce: str | None = None,
                       wallet_metadata: str | None = None) -> str:
        """The signed request object (JWS, ``typ: oauth-authz-req+jwt``) for a pending request.

        ``wallet_nonce`` and ``wallet_metadata`` come from a ``request_uri_method=post`` fetch [5.10].
        """
        req = self.get(request_id)
        now = self.clock.now()
        if req.status_at(now) == "expired":
            raise RequestExpiredError("presentation request has expired")
        if req.status != PENDING:
            raise RequestUsedError("presentation request was already answered")
        encs = self._encs_for(req, _wallet_metadata(wallet_metadata))
        if wallet_nonce is not None and not 0 < len(wallet_nonce) <= _MAX_WALLET_NONCE:
            raise MalformedInputError("wallet_nonce must be 1 to 256 characters")
        client_metadata: dict[str, Any] = {"vp_formats_supported": {
            "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}}}
        if self.name:  # RFC 7591 client_name: self-asserted, signed with the request; wallets show it beside the DID
            client_metadata["client_name"] = self.name
        if req.response_key is not None:
            client_metadata["jwks"] = {"keys": [jwe.public_jwk(req.response_key)]}
            client_metadata["encrypted_response_enc_values_supported"] = list(encs)
        # No ``iss``: OpenID4VP 1.0 section 5 has wallets ignore it, and widely used wallets that do read it
        # require the header ``kid`` to start with it, which a prefixed client_id never does.
        payload = {
            "aud": WALLET_AUDIENCE,
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": req.response_mode,
            "response_uri": self.response_uri,
            "nonce": req.nonce,
            "state": req.state,
            "dcql_query": dcql_query(policy),
            "client_metadata": client_metadata,
            "iat": now,
            "exp": req.expires_at,
        }
        if wallet_nonce is not None:
            payload["wallet_nonce"] = wallet_nonce
        return jws.sign(payload, self.key, header={"typ": REQUEST_TYP, "kid": self.kid})

    @staticmethod
    def _encs_for(req: PresentationRequest, wallet: Mapping[str, Any]) -> tuple[str, ...]:
        """Our ``enc`` values, narrowed to the wallet's when it named them; refuse a wallet we cannot serve."""
        signing = wallet.get("request_object_signing_alg_values_supported")
        if isinstance(signing, list) and "ES256" not in signing:
            raise WalletMetadataError("the wallet does not accept ES256 request objects")
        if req.response_mode != DIRECT_POST_JWT:
            return ()
        algs = wallet.get("authorization_encryption_alg_values_supported")
        if isinstance(algs, list) and not set(jwe.ALGS) & set(algs):
            raise WalletMetadataError("the wallet supports no response encryption alg this verifier uses")
        encs = wallet.get("authorization_encryption_enc_values_supported")
        if not isinstance(encs, list):
            return jwe.ENCS
        common = tuple(e for e in jwe.ENCS if e in encs)
        if not common:
            raise WalletMetadataError("the wallet supports no response encryption enc this verifier uses")
        return common

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

    def _decrypted(self, token: str) -> dict[str, Any]:
        """The response parameters inside a ``direct_post.jwt`` answer [8.3.1], checked against its request."""
        if len(token) > jwe.MAX_JWE_BYTES:
            raise PayloadTooLargeError(f"encrypted response is larger than {jwe.MAX_JWE_BYTES} bytes")
        kid = jwe.protected_header(token).get("kid")
        if not isinstance(kid, str) or not kid:
            raise MalformedInputError("the encrypted response names no kid")
        req = self._get(requests_table.c.id == kid, "no presentation request for that kid")
        if req.response_mode != DIRECT_POST_JWT or req.response_key is None:
            raise ResponseModeMismatchError("this request asked for an unencrypted direct_post answer")
        inner = jwe.decrypt(token, req.response_key)
        if inner.get("state") != req.state:  # a response encrypted to one request cannot answer another
            raise StateMismatchError("the encrypted response's state is not its request's")
        return inner

    def answer(self, form: Mapping[str, str], verifier: VerifierService) -> PresentationRequest:
        """Handle a ``direct_post`` body: ``vp_token`` + ``state``, or ``error`` + ``state`` [8.2, 8.5];
        or a ``direct_post.jwt`` body: ``response`` holding those parameters encrypted [8.3.1]."""
        params: Mapping[str, Any] = form
        if "response" in form:
            params = self._decrypted(form["response"])
        state = params.get("state")
        if not state or not isinstance(state, str):
            raise MalformedInputError("direct_post answer has no state")
        if params is form and "error" not in form:
            mode = self._get(requests_table.c.state == state, "no presentation request with that state").response_mode
            if mode == DIRECT_POST_JWT:
                raise ResponseModeMismatchError("this request's answer must be encrypted (direct_post.jwt)")
        req = self.claim(state)
        if "error" in params:
            self.finish(req.id, ERROR, {"verified": False, "code": "wallet_error",
                                        "error": str(params["error"])[:64]})
            return self.get(req.id)
        try:
            presentation = self._presentation(params.get("vp_token"))
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
    def _presentation(vp_token: object) -> str:
        # OpenID4VP 1.0 8.1: vp_token is a JSON object keyed by credential query id, each an array. In a form
        # it is JSON text; inside an encrypted response it is the object itself.
        if not vp_token:
            raise MalformedInputError("direct_post answer has no vp_token")
        obj: object = vp_token
        if isinstance(vp_token, str):
            try:
                obj = json.loads(vp_token)
            except ValueError:
                raise MalformedInputError("vp_token is not JSON") from None
        items = obj.get(CREDENTIAL_QUERY_ID) if isinstance(obj, dict) else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], str):
            raise MalformedInputError("vp_token must hold exactly one presentation for 'cred'")
        return items[0]


def _wallet_metadata(text: str | None) -> dict[str, Any]:
    """The ``wallet_metadata`` form parameter [5.10]: a JSON object, or nothing."""
    if text is None:
        return {}
    if len(text) > _MAX_WALLET_METADATA:
        raise PayloadTooLargeError("wallet_metadata is too large")
    try:
        value = json.loads(text)
    except ValueError:
        raise MalformedInputError("wallet_metadata is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedInputError("wallet_metadata is not a JSON object")
    return value
