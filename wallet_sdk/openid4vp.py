"""Online presentation with OpenID4VP 1.0: read a request, show what is asked and by whom, answer it.

1. :func:`resolve_request` takes the ``openid4vp://`` URI (or the text of its QR code), fetches the
   request object by reference (``request_uri``, §5.10; GET, or POST when ``request_uri_method=post``)
   and validates it. Client identifier prefixes (§5.9): ``decentralized_identifier:`` with a ``did:key``
   (the request object must be a JWS ``typ: oauth-authz-req+jwt`` signed by that key, RFC 9101; this is
   what civicpass verifiers use), and ``redirect_uri:`` (unsigned, ``alg: none``, and the response must
   go to that same URI; shown to the holder as an unverified verifier). Other prefixes (x509, federation,
   attestation) need trust anchors the wallet does not have and are refused with a clear code.
   With ``request_uri_method=post`` (§5.10) the wallet sends its ``wallet_metadata`` (ES256, ECDH-ES,
   A128GCM/A256GCM, ``dc+sd-jwt``) and a fresh ``wallet_nonce``, which the request object must echo.
   Only ``response_type=vp_token``, ``response_mode`` ``direct_post`` or ``direct_post.jwt`` and a
   ``dcql_query`` are accepted; for ``direct_post.jwt`` the verifier's ``client_metadata.jwks`` must hold
   a P-256 ``ECDH-ES`` key and its ``encrypted_response_enc_values_supported`` (default ``A128GCM``) a
   content encryption the wallet has.
2. :func:`prepare` matches the DCQL query against the wallet's SD-JWT VCs (:mod:`wallet_sdk.dcql`) and
   returns a :class:`Consent`: the verifier, and per query exactly which claims it asks for, which
   credential would answer, and which claims would be disclosed. Nothing is sent yet.
3. :func:`respond` (after the holder agreed) builds each presentation with only those claims and a
   KB-JWT (``aud`` = the full client_id, ``nonce`` from the request, App. B.3.6), and POSTs ``vp_token``
   (a JSON object keyed by query id, each an array, §8.1) and ``state`` as a form (§8.2), or for
   ``direct_post.jwt`` one ``response`` parameter: those parameters as a JWE to the verifier's key (§8.3;
   ``apv`` is the request nonce, ``apu`` the wallet nonce when one was sent).
   :func:`decline` tells the verifier ``access_denied`` instead.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx

from credcore import jwe, jws
from credcore._b64 import b64u_decode
from credcore.errors import CredError, MalformedInputError
from credcore.keys import parse_json_object
from wallet_sdk._http import Peer
from wallet_sdk.dcql import DcqlQuery, Held, Match, lookup, parse_dcql, select
from wallet_sdk.errors import PresentationRequestError, VerifierRefusedError
from wallet_sdk.records import LogEntry
from wallet_sdk.store import Wallet

__all__ = ["Consent", "PresentationRequest", "decline", "prepare", "resolve_request", "respond"]

REQUEST_TYP: Final = "oauth-authz-req+jwt"
DID_PREFIX: Final = "decentralized_identifier:"
REDIRECT_PREFIX: Final = "redirect_uri:"
_SCHEMES: Final = frozenset({"openid4vp", "haip-vp", "https", "http"})
_MAX_URI: Final = 8 * 1024
_SKEW: Final = 60
DIRECT_POST, DIRECT_POST_JWT = "direct_post", "direct_post.jwt"
#: What this wallet tells a verifier it supports when it fetches a request object by POST (§5.10, §10).
WALLET_METADATA: Final = {
    "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}},
    "response_modes_supported": [DIRECT_POST, DIRECT_POST_JWT],
    "authorization_encryption_alg_values_supported": sorted(jwe.ALGS),
    "authorization_encryption_enc_values_supported": list(jwe.ENCS),
    "client_id_prefixes_supported": ["decentralized_identifier", "redirect_uri"],
}


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    """A validated OpenID4VP request."""

    client_id: str
    verifier: str  # who asks, for the holder: the DID, or the response URL of an unsigned request
    authenticated: bool  # True when the request object was signed by the client_id's key
    response_uri: str
    nonce: str
    state: str | None
    query: DcqlQuery
    expires_at: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    response_mode: str = DIRECT_POST
    encryption_jwk: Mapping[str, Any] | None = field(default=None, repr=False)  # direct_post.jwt: the verifier's key
    encryption_enc: str | None = None
    wallet_nonce: str | None = None


def _bad(detail: str) -> PresentationRequestError:
    return PresentationRequestError(f"presentation request: {detail}")


def _split_uri(text: str) -> dict[str, str]:
    text = text.strip()
    if len(text) > _MAX_URI:
        raise _bad("URI is too long")
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES:
        raise _bad("not an openid4vp:// URI")
    params = parse_qs(parts.query, keep_blank_values=True)
    if any(len(v) != 1 for v in params.values()):
        raise _bad("a parameter is repeated")
    return {k: v[0] for k, v in params.items()}


def _unsigned(token: str) -> dict[str, Any]:
    """An ``alg: none`` request object (only for the ``redirect_uri:`` prefix, §5.9.3)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[2] != "":
        raise _bad("an unsigned request object must be 'header.payload.'")
    header = parse_json_object(b64u_decode(parts[0]), "request object header")
    if header.get("alg") != "none":
        raise _bad("a redirect_uri: request must not be signed")
    return parse_json_object(b64u_decode(parts[1]), "request object")


def _signed_by_did(token: str, did: str) -> dict[str, Any]:
    from credcore.did import resolve_did_key

    parsed = jws.parse(token, typ=REQUEST_TYP)
    kid = parsed.header.get("kid")
    # The key must be the client's own DID: a kid naming another DID would let anyone sign for this client.
    if not isinstance(kid, str) or kid.split("#", 1)[0] != did:
        raise _bad("request object 'kid' does not name a key of the client's DID")
    if not did.startswith("did:key:"):
        raise _bad("only did:key client identifiers can be resolved offline")
    if not parsed.verify_with(resolve_did_key(did)):
        raise _bad("request object signature does not verify under the client's DID")
    return parsed.payload


def _request_object(peer: Peer, params: Mapping[str, str], *, signed: bool) -> tuple[str | None, str | None]:
    """The request object and the wallet_nonce sent for it (``request_uri_method=post``), if any."""
    if "request" in params:
        return params["request"], None
    if "request_uri" not in params:
        return None, None
    url = peer.url(params["request_uri"], "request_uri")
    method = params.get("request_uri_method", "get")
    if method not in ("get", "post"):
        raise _bad("request_uri_method must be get or post")
    form, nonce = None, None
    if method == "post":
        metadata = dict(WALLET_METADATA)
        if signed:  # §5.10: named only where the client identifier prefix allows signed requests
            metadata["request_object_signing_alg_values_supported"] = ["ES256"]
        nonce = secrets.token_urlsafe(18)
        form = {"wallet_metadata": json.dumps(metadata, separators=(",", ":")), "wallet_nonce": nonce}
    resp = peer.request(
        method.upper(), url, what="request object", headers={"accept": "application/oauth-authz-req+jwt"}, data=form
    )
    return resp.text(), nonce


def resolve_request(text: str, *, http: httpx.Client, now: int, allow_http: bool = False) -> PresentationRequest:
    """Parse an ``openid4vp://`` URI, fetch its request object and validate it.

    Raises:
        PresentationRequestError: malformed, wrongly signed, expired or unsupported (``wallet_bad_request``).
        VerifierRefusedError / WalletUnreachableError: the request object could not be fetched.
    """
    peer = Peer(http, allow_http=allow_http, refused=VerifierRefusedError)
    params = _split_uri(text)
    client_id = params.get("client_id")
    if not client_id:
        raise _bad("no client_id")
    if not client_id.startswith((DID_PREFIX, REDIRECT_PREFIX)):
        raise _bad("client identifier prefix not supported by this wallet")
    try:
        token, wallet_nonce = _request_object(peer, params, signed=client_id.startswith(DID_PREFIX))
        if client_id.startswith(DID_PREFIX):
            if token is None:
                raise _bad("a decentralized_identifier: client must send a signed request object")
            did = client_id[len(DID_PREFIX) :]
            payload, verifier, authenticated = _signed_by_did(token, did), did, True
        else:
            payload = _unsigned(token) if token is not None else dict(params)
            verifier, authenticated = client_id[len(REDIRECT_PREFIX) :], False
    except PresentationRequestError:
        raise
    except MalformedInputError as exc:
        raise _bad(f"request object cannot be read ({exc.code})") from None
    except CredError as exc:
        if exc.code.startswith("wallet_"):
            raise
        raise _bad(f"request object refused ({exc.code})") from None
    if wallet_nonce is not None and payload.get("wallet_nonce") != wallet_nonce:  # §5.10: MUST terminate
        raise _bad("the request object does not carry the wallet_nonce this wallet sent")
    return _validate(payload, client_id, verifier, authenticated, peer=peer, now=now, wallet_nonce=wallet_nonce)


def _encryption(p: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The verifier's response encryption key and the ``enc`` to use (§8.3), or a refusal."""
    meta = p.get("client_metadata")
    jwks = meta.get("jwks") if isinstance(meta, dict) else None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise _bad("direct_post.jwt needs client_metadata.jwks with an encryption key")
    usable = [
        k for k in keys
        if isinstance(k, dict) and k.get("kty") == "EC" and k.get("crv") == "P-256" and k.get("alg") in jwe.ALGS
        and k.get("use", "enc") == "enc"
    ]  # fmt: skip
    if not usable:
        raise _bad("the verifier offers no P-256 ECDH-ES encryption key")
    try:
        jwe.check_recipient(usable[0])
    except CredError:
        raise _bad("the verifier's encryption key is not a valid P-256 key") from None
    assert isinstance(meta, dict)
    offered = meta.get("encrypted_response_enc_values_supported", ["A128GCM"])
    enc = next((e for e in offered if e in jwe.ENCS), None) if isinstance(offered, list) else None
    if enc is None:
        raise _bad("the verifier offers no content encryption this wallet has")
    return usable[0], enc


def _validate(
    p: Mapping[str, Any],
    client_id: str,
    verifier: str,
    authenticated: bool,
    *,
    peer: Peer,
    now: int,
    wallet_nonce: str | None = None,
) -> PresentationRequest:
    if p.get("client_id") != client_id:  # §5.10: the request object's client_id must be the one in the URI
        raise _bad("client_id in the request object differs from the one in the URI")
    if p.get("response_type") != "vp_token":
        raise _bad("response_type must be vp_token")
    mode = p.get("response_mode")
    if mode not in (DIRECT_POST, DIRECT_POST_JWT):
        raise _bad("only response_mode direct_post or direct_post.jwt is supported")
    key, enc = _encryption(p) if mode == DIRECT_POST_JWT else (None, None)
    response_uri = peer.url(p.get("response_uri"), "response_uri")
    if not authenticated and response_uri != verifier:  # §5.9.3: redirect_uri prefix names the response URI
        raise _bad("response_uri must equal the redirect_uri client identifier")
    nonce, state = p.get("nonce"), p.get("state")
    if not isinstance(nonce, str) or not nonce or len(nonce) > 256:
        raise _bad("nonce missing")
    if state is not None and (not isinstance(state, str) or len(state) > 256):
        raise _bad("state is not a short string")
    exp = p.get("exp")
    if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool) or exp + _SKEW <= now):
        raise _bad("request has expired")
    if "presentation_definition" in p or "scope" in p:
        raise _bad("only DCQL queries are supported")
    dcql = p.get("dcql_query")
    if isinstance(dcql, str):  # by-value URI parameters carry JSON as text
        try:
            dcql = json.loads(dcql)
        except ValueError:
            raise _bad("dcql_query is not JSON") from None
    return PresentationRequest(
        client_id, verifier, authenticated, response_uri, nonce, state, parse_dcql(dcql), exp, p, mode, key, enc,
        wallet_nonce,
    )  # fmt: skip


# --- consent -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Consent:
    """What the holder must see before agreeing: who asks, what exactly, and what would be sent."""

    request: PresentationRequest
    matches: Mapping[str, Match]  # query id -> proposed credential and disclosed paths
    missing: tuple[str, ...]  # required query ids the wallet cannot answer
    values: Mapping[str, Mapping[str, Any]]  # query id -> disclosed path -> value (holder's eyes only)

    @property
    def can_answer(self) -> bool:
        return bool(self.matches) and not self.missing

    def asked(self) -> dict[str, tuple[str, ...]]:
        """Per credential query, the claims exactly as the verifier asked for them."""
        out: dict[str, tuple[str, ...]] = {}
        for q in self.request.query.credentials:
            m = self.matches.get(q.id)
            out[q.id] = m.asked if m else tuple(c.label for c in q.claims or ())
        return out


def _holdings(wallet: Wallet) -> tuple[list[Held], dict[str, str]]:
    from credcore.sdjwt import unsafe_decode

    held: list[Held] = []
    texts: dict[str, str] = {}
    for s in wallet.summaries():
        if not s.has_sd_jwt or s.status == "revoked":
            continue
        record = wallet.load(s.id)
        if record.sd_jwt is None:
            continue
        claims = unsafe_decode(record.sd_jwt)["claims"] or {}
        held.append(Held(s.id, s.vct, claims))
        texts[s.id] = record.sd_jwt
    return held, texts


def prepare(wallet: Wallet, request: PresentationRequest) -> Consent:
    """Match the request against the wallet; nothing is sent."""
    held, _ = _holdings(wallet)
    matches, missing = select(request.query, held)
    by_id = {h.credential_id: h for h in held}
    values = {
        qid: {p: _single(lookup(by_id[m.credential_id].claims, p.split("/"))[1]) for p in m.disclose}
        for qid, m in matches.items()
    }
    return Consent(request, matches, missing, values)


def _single(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def respond(
    wallet: Wallet, consent: Consent, *, http: httpx.Client, now: int, allow_http: bool = False
) -> Mapping[str, Any]:
    """Send the presentations the holder agreed to. Returns the verifier's JSON answer (often ``{}``).

    Raises:
        PresentationRequestError: the wallet cannot answer every required query (nothing is sent).
        VerifierRefusedError: the verifier answered with an error.
    """
    from credcore.sdjwt import present_sd_jwt

    if not consent.can_answer:
        raise PresentationRequestError("the wallet holds no credential for a required part of this request")
    req = consent.request
    vp_token: dict[str, list[str]] = {}
    for qid, m in consent.matches.items():
        held = wallet.take_sd_jwt(m.credential_id).copy  # a fresh copy of a batch: verifiers cannot link
        vp_token[qid] = [
            present_sd_jwt(
                held.text, disclose=m.disclose, holder_key=held.holder_key, audience=req.client_id,
                nonce=req.nonce, now=now,
            )
        ]  # fmt: skip
    form = _response_form(req, vp_token)
    peer = Peer(http, allow_http=allow_http, refused=VerifierRefusedError)
    outcome = "accepted"
    try:
        resp = peer.request("POST", req.response_uri, what="presentation response", data=form)
    except VerifierRefusedError as exc:
        outcome = f"refused:{exc.context.get('error', 'error')}"
        raise
    finally:
        for m in consent.matches.values():
            wallet.log(LogEntry(now, m.credential_id, "openid4vp", req.client_id, m.disclose, "", outcome))
    body = resp.json("presentation response") if resp.body.strip() else {}
    return body


def _response_form(req: PresentationRequest, vp_token: dict[str, list[str]]) -> dict[str, str]:
    if req.response_mode == DIRECT_POST_JWT:
        assert req.encryption_jwk is not None and req.encryption_enc is not None
        inner: dict[str, Any] = {"vp_token": vp_token}
        if req.state is not None:
            inner["state"] = req.state
        apu = req.wallet_nonce.encode() if req.wallet_nonce else None
        return {"response": jwe.encrypt(inner, req.encryption_jwk, enc=req.encryption_enc, apu=apu,
                                        apv=req.nonce.encode())}  # fmt: skip
    form = {"vp_token": json.dumps(vp_token, separators=(",", ":"))}
    if req.state is not None:
        form["state"] = req.state
    return form


def decline(consent: Consent, *, http: httpx.Client, allow_http: bool = False) -> None:
    """Tell the verifier the holder said no (§8.5 ``access_denied``)."""
    form = {"error": "access_denied", "error_description": "the holder declined"}
    if consent.request.state is not None:
        form["state"] = consent.request.state
    Peer(http, allow_http=allow_http, refused=VerifierRefusedError).request(
        "POST", consent.request.response_uri, what="decline", data=form
    )
