"""Admin API under /v1: clerks issue; operators revoke, suspend, reinstate, and manage keys and types."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from credcore.keys import PublicKey
from issuer.api.deps import Admin, json_body, model_body, require, service
from issuer.api.qr import qr_png
from issuer.api.schemas import IssueRequest, OfferRequest
from issuer.service import IssuerService

router = APIRouter(prefix="/v1")
Svc = Annotated[IssuerService, Depends(service)]
Clerk = Annotated[Admin, Depends(require("clerk"))]
Operator = Annotated[Admin, Depends(require("operator"))]
Staff = Annotated[Admin, Depends(require("clerk", "operator"))]
OfferBody = Annotated[OfferRequest, Depends(model_body(OfferRequest))]
IssueBody = Annotated[IssueRequest, Depends(model_body(IssueRequest))]


@router.post("/offers", status_code=201)
def create_offer(svc: Svc, admin: Clerk, body: OfferBody) -> dict[str, Any]:
    offer = svc.create_offer(admin.actor, body.vct, body.claims)
    png = base64.b64encode(qr_png(offer.uri)).decode("ascii")
    return {"offer_id": offer.offer_id, "credential_offer_uri": offer.uri, "credential_offer": offer.credential_offer,
            "tx_code": offer.tx_code, "expires_at": offer.expires_at, "qr_png_base64": png}


@router.post("/credentials", status_code=201, response_model=None)
def issue(svc: Svc, admin: Clerk, body: IssueBody) -> JSONResponse:
    keys = [PublicKey.from_jwk(jwk) for jwk in body.holder_jwks]
    issued = svc.issue_direct(admin.actor, body.vct, body.claims, keys)
    pairs = zip(issued.formats, issued.credentials, strict=True)
    creds = [{"format": f, "credential": c} for f, c in pairs]
    return JSONResponse({"id": issued.credential_id, "credentials": creds}, status_code=201)


@router.get("/credentials")
def list_credentials(
    svc: Svc, _: Staff, vct: str | None = None, status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, after: str | None = None,
) -> dict[str, Any]:
    found = svc.list_credentials(vct=vct, status=status, limit=limit, after=after)
    return {"credentials": [c.to_json() for c in found]}


@router.get("/credentials/{credential_id}")
def get_credential(svc: Svc, _: Staff, credential_id: str) -> dict[str, Any]:
    return svc.get_credential(credential_id).to_json()


@router.get("/credentials/{credential_id}/anchor")
def get_anchor(svc: Svc, _: Staff, credential_id: str) -> dict[str, Any]:
    return {"credential_id": credential_id, "items": [p.to_json() for p in svc.anchor(credential_id)]}


@router.post("/credentials/{credential_id}/{action}")
def change_status(
    svc: Svc, admin: Operator, credential_id: str, action: Literal["revoke", "suspend", "reinstate"]
) -> dict[str, Any]:
    return svc.change_status(admin.actor, credential_id, action).to_json()


@router.get("/keys")
def list_keys(svc: Svc, _: Operator) -> dict[str, Any]:
    return {"keys": [k.to_json() for k in svc.list_keys()]}


@router.post("/keys/rotate", status_code=201)
async def rotate_key(request: Request, svc: Svc, admin: Operator) -> dict[str, Any]:
    # Chain work runs on its own thread, never one of those serving issuance, metadata and status lists.
    limiter = getattr(request.app.state, "chain_limiter", None)  # set by the app's lifespan
    return (await anyio.to_thread.run_sync(svc.rotate_key, admin.actor, limiter=limiter)).to_json()


@router.get("/types")
def list_types(svc: Svc, _: Staff) -> dict[str, Any]:
    return {"types": [t.to_json() for t in svc.types]}


@router.post("/types", status_code=201)
def add_type(svc: Svc, admin: Operator, body: Annotated[dict[str, Any], Depends(json_body)]) -> dict[str, Any]:
    return svc.add_type(admin.actor, body).to_json()


@router.get("/audit")
def audit_log(
    svc: Svc, _: Operator, after: int = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    events, verified = svc.audit_entries(after=after, limit=limit)
    return {"verified_events": verified, "events": events}
