"""OpenID4VCI endpoints: metadata, token (pre-authorized code), nonce, credential, notification; and status lists."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import JSONResponse, Response

from credcore.errors import NotFoundError, RateLimitedError
from issuer.api.deps import access_token, client_of, json_body, service
from issuer.api.metadata import authorization_server_metadata, credential_issuer_metadata, jwt_vc_issuer_metadata
from issuer.errors import OAuthError, UseDpopNonceError
from issuer.service import IssuerService

router = APIRouter()
Svc = Annotated[IssuerService, Depends(service)]
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/.well-known/openid-credential-issuer")
def issuer_metadata(svc: Svc) -> dict[str, Any]:
    return credential_issuer_metadata(svc)


@router.get("/.well-known/jwt-vc-issuer")
@router.get("/.well-known/jwt-vc-issuer/{tail:path}")
def jwt_vc_issuer(svc: Svc, tail: str = "") -> JSONResponse:
    # The well-known segment goes between host and path: an ``iss`` with a path is served at /.well-known/
    # jwt-vc-issuer/<path> (a proxy in front routes it here); another path names another issuer.
    body = jwt_vc_issuer_metadata(svc)
    if body is None or tail.strip("/") != urlsplit(body["issuer"]).path.strip("/"):
        raise NotFoundError("no JWT VC Issuer Metadata here: the issuer's iss is a DID or another URL")
    return JSONResponse(body, headers={"Cache-Control": "max-age=300"})


@router.get("/.well-known/oauth-authorization-server")
def as_metadata(svc: Svc) -> dict[str, Any]:
    return authorization_server_metadata(svc)


@router.post("/token")
def token(  # noqa: PLR0917 - FastAPI passes form fields by name
    svc: Svc,
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    pre_authorized_code: Annotated[str | None, Form(alias="pre-authorized_code", max_length=200)] = None,
    tx_code: Annotated[str | None, Form(max_length=32)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
    dpop: Annotated[str | None, Header(alias="DPoP", max_length=8192)] = None,
) -> JSONResponse:
    limits, client = request.app.state.rate_limits, client_of(request)
    limits.check("tx_code", client)  # failed attempts per client, across offers (guessing codes)
    try:
        granted = svc.oid4vci.token(grant_type, pre_authorized_code, tx_code, refresh_token=refresh_token, dpop=dpop)
    except UseDpopNonceError:
        raise  # a wallet's first proof, before any code was looked at: not a failed attempt
    except OAuthError:
        with suppress(RateLimitedError):  # this failure still gets its own answer; the next one a 429
            limits.hit("tx_code", client)
        raise
    return JSONResponse(granted.to_json(), headers=_with_dpop_nonce(svc, request, _NO_STORE))


@router.post("/nonce")
def nonce(svc: Svc, request: Request) -> JSONResponse:
    request.app.state.rate_limits.hit("nonce", client_of(request))  # each nonce is a stored row
    return JSONResponse({"c_nonce": svc.oid4vci.nonce()}, headers=_NO_STORE)


@router.post("/credential")
def credential(svc: Svc, request: Request, body: Annotated[dict[str, Any], Depends(json_body)]) -> JSONResponse:
    scheme, token = access_token(request)
    issued = svc.oid4vci.credential(token, body, scheme=scheme, dpop=request.headers.get("dpop"))
    answer = {"credentials": [{"credential": c} for c in issued.credentials], "notification_id": issued.credential_id}
    return JSONResponse(answer, headers=_with_dpop_nonce(svc, request, _NO_STORE))


@router.post("/notification", status_code=204)
def notification(svc: Svc, request: Request, body: Annotated[dict[str, Any], Depends(json_body)]) -> Response:
    scheme, token = access_token(request)
    svc.oid4vci.notify(token, body, scheme=scheme, dpop=request.headers.get("dpop"))
    return Response(status_code=204, headers=_with_dpop_nonce(svc, request, {}))


def _with_dpop_nonce(svc: IssuerService, request: Request, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` and, for a wallet that sent a DPoP proof, a fresh ``DPoP-Nonce`` (RFC 9449 §8.2): its next proof
    carries it, with no refusal first. A wallet without DPoP gets none (it would have nothing to put it in)."""
    nonce = svc.oid4vci.dpop_nonce() if request.headers.get("dpop") else None
    return headers if nonce is None else {**headers, "DPoP-Nonce": nonce}


@router.get("/status-lists/{list_id}")
def status_list(svc: Svc, list_id: int) -> Response:
    token = svc.status.served(list_id)
    if token is None:
        raise NotFoundError("no published status list with this id")
    return Response(token, media_type="application/statuslist+jwt", headers={"Cache-Control": "max-age=60"})


@router.get("/status-lists/{list_id}/latest")
def latest_status_list(svc: Svc, list_id: int) -> Response:
    """The newest signed list, ahead of the chain while it is down; verifiers take only stricter statuses from it."""
    token = svc.status.latest(list_id)
    if token is None:
        raise NotFoundError("no status list with this id")
    return Response(token, media_type="application/statuslist+jwt", headers={"Cache-Control": "no-cache"})
