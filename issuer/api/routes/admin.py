"""Admin API under /v1: clerks issue; operators revoke, suspend, reinstate, and manage keys and types.

The OpenAPI document says all of it, so a generated client needs no source: each role is a bearer security
scheme (``clerk``, ``operator``; an operation open to both lists both, either will do), every request body
has its schema and a working example, and every refusal is listed with its problem+json shape.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from credcore.keys import PublicKey
from httpedge import problem_responses
from issuer.api.deps import Admin, json_body, model_body, require, service
from issuer.api.qr import qr_png
from issuer.api.schemas import (
    TYPE_EXAMPLE,
    AnchorOut,
    AuditOut,
    CredentialList,
    CredentialOut,
    IssuedOut,
    IssueRequest,
    KeyList,
    KeyOut,
    OfferOut,
    OfferRequest,
    TypeList,
)
from issuer.service import IssuerService

router = APIRouter(prefix="/v1")
Svc = Annotated[IssuerService, Depends(service)]
Clerk = Annotated[Admin, Depends(require("clerk"))]
Operator = Annotated[Admin, Depends(require("operator"))]
Staff = Annotated[Admin, Depends(require("clerk", "operator"))]
OfferBody = Annotated[OfferRequest, Depends(model_body(OfferRequest))]
IssueBody = Annotated[IssueRequest, Depends(model_body(IssueRequest))]


#: One bearer scheme per role (RFC 6750); the token's role decides what it may do.
ROLE_SCHEMES = {
    "clerk": {"type": "http", "scheme": "bearer",
              "description": "A clerk's admin token: creates offers and issues directly."},
    "operator": {"type": "http", "scheme": "bearer",
                 "description": "An operator's admin token: revokes, suspends, reinstates; keys, types, audit log."},
}
_AUTH = {401: "no admin bearer token, or an unknown one", 403: "the token's role may not do this"}
_BODY = {400: "body is not a JSON object, or does not match the schema (fields named, never values)",
         413: "body larger than allowed"}


def _doc(roles: tuple[str, ...], ok: int, model: type[BaseModel] | None, refusals: dict[int, str],
         body: type[BaseModel] | dict[str, Any] | None = None) -> dict[str, Any]:
    """Route keyword arguments documenting roles, the success body, every refusal and the request body."""
    extra: dict[str, Any] = {"security": [{role: []} for role in roles]}
    if body is not None:
        schema = body.model_json_schema() if isinstance(body, type) else {"type": "object"}
        example = schema.get("examples", [TYPE_EXAMPLE])[0]
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema,
                                                                                   "example": example}}}
        refusals = {**_BODY, **refusals}
    ok_doc: dict[str, Any] = {"description": "done"} | ({"model": model} if model is not None else {})
    return {"status_code": ok, "responses": {ok: ok_doc, **problem_responses({**_AUTH, **refusals})},
            "openapi_extra": extra}


def document(app: FastAPI) -> None:
    """Add the role schemes to the app's OpenAPI components (the operations name them in ``security``)."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make()
            schema.setdefault("components", {})["securitySchemes"] = ROLE_SCHEMES
            for item in schema.get("paths", {}).values():  # the edge answers validation errors 400, not 422
                for op in item.values():
                    if "application/json" in op.get("responses", {}).get("422", {}).get("content", {}):
                        del op["responses"]["422"]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


_CLERK, _OPERATOR, _STAFF = ("clerk",), ("operator",), ("clerk", "operator")
_UNKNOWN_TYPE = {404: "no credential type with this vct"}


@router.post("/offers", **_doc(_CLERK, 201, OfferOut, {**_UNKNOWN_TYPE}, OfferRequest),
             summary="Create an OpenID4VCI credential offer (QR, link and transaction code)")
def create_offer(svc: Svc, admin: Clerk, body: OfferBody) -> dict[str, Any]:
    offer = svc.oid4vci.create_offer(admin.actor, body.vct, body.claims)
    png = base64.b64encode(qr_png(offer.uri)).decode("ascii")
    return {"offer_id": offer.offer_id, "credential_offer_uri": offer.uri, "credential_offer": offer.credential_offer,
            "tx_code": offer.tx_code, "expires_at": offer.expires_at, "qr_png_base64": png}


@router.post("/credentials", response_model=None, summary="Issue directly to holder keys (no OpenID4VCI)",
             **_doc(_CLERK, 201, IssuedOut, {
                 **_UNKNOWN_TYPE, 422: "a holder key of a type or curve not allowed (ES256 on P-256 only)",
                 503: "the signing key is not on chain yet; retry"}, IssueRequest))
def issue(svc: Svc, admin: Clerk, body: IssueBody) -> JSONResponse:
    keys = [PublicKey.from_jwk(jwk) for jwk in body.holder_jwks]
    issued = svc.admin.issue_direct(admin.actor, body.vct, body.claims, keys)
    pairs = zip(issued.formats, issued.credentials, strict=True)
    creds = [{"format": f, "credential": c} for f, c in pairs]
    return JSONResponse({"id": issued.credential_id, "credentials": creds}, status_code=201)


@router.get("/credentials", summary="List issued credentials (no claim values are kept)",
            **_doc(_STAFF, 200, CredentialList, {400: "a filter or the page size is not valid"}))
def list_credentials(
    svc: Svc, _: Staff, vct: str | None = None, status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, after: str | None = None,
) -> dict[str, Any]:
    found = svc.admin.list_credentials(vct=vct, status=status, limit=limit, after=after)
    return {"credentials": [c.to_json() for c in found]}


@router.get("/credentials/{credential_id}", summary="One credential's record and status",
            **_doc(_STAFF, 200, CredentialOut, {404: "no such credential"}))
def get_credential(svc: Svc, _: Staff, credential_id: str) -> dict[str, Any]:
    return svc.admin.get_credential(credential_id).to_json()


@router.get("/credentials/{credential_id}/anchor", summary="Anchor proofs of a credential's signed artefacts",
            **_doc(_STAFF, 200, AnchorOut, {404: "no such credential"}))
def get_anchor(svc: Svc, _: Staff, credential_id: str) -> dict[str, Any]:
    return {"credential_id": credential_id, "items": [p.to_json() for p in svc.admin.anchor(credential_id)]}


@router.post("/credentials/{credential_id}/{action}", summary="Revoke, suspend or reinstate a credential",
             **_doc(_OPERATOR, 200, CredentialOut, {
                 400: "action is not revoke, suspend or reinstate", 404: "no such credential",
                 409: "already in that state, revocation is final, or only a suspended credential is reinstated"}))
def change_status(
    svc: Svc, admin: Operator, credential_id: str, action: Literal["revoke", "suspend", "reinstate"]
) -> dict[str, Any]:
    return svc.admin.change_status(admin.actor, credential_id, action).to_json()


@router.get("/keys", summary="The issuer's signing keys with their validity windows",
            **_doc(_OPERATOR, 200, KeyList, {}))
def list_keys(svc: Svc, _: Operator) -> dict[str, Any]:
    return {"keys": [k.to_json() for k in svc.keys.all()]}


@router.post("/keys/rotate", summary="Rotate the signing key (registered on chain first)",
             **_doc(_OPERATOR, 201, KeyOut, {503: "the chain did not accept the rotation in time; retry"}))
async def rotate_key(request: Request, svc: Svc, admin: Operator) -> dict[str, Any]:
    # Chain work runs on its own thread, never one of those serving issuance, metadata and status lists.
    limiter = getattr(request.app.state, "chain_limiter", None)  # set by the app's lifespan
    return (await anyio.to_thread.run_sync(svc.keys.rotate, admin.actor, limiter=limiter)).to_json()


@router.get("/types", summary="Credential types this issuer issues", **_doc(_STAFF, 200, TypeList, {}))
def list_types(svc: Svc, _: Staff) -> dict[str, Any]:
    return {"types": [t.to_json() for t in svc.types]}


@router.post("/types", summary="Add a credential type (a definition like issuer/types/*.yaml)",
             **_doc(_OPERATOR, 201, None, {409: "a type with this vct already exists"}, TYPE_EXAMPLE))
def add_type(svc: Svc, admin: Operator, body: Annotated[dict[str, Any], Depends(json_body)]) -> dict[str, Any]:
    return svc.admin.add_type(admin.actor, body).to_json()


@router.get("/audit", summary="A page of the hash-chained audit log",
            **_doc(_OPERATOR, 200, AuditOut, {400: "after or limit is not valid",
                                              503: "the audit log's hash chain does not verify"}))
def audit_log(
    svc: Svc, _: Operator, after: int = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    events, verified = svc.admin.audit_entries(after=after, limit=limit)
    return {"verified_events": verified, "events": events}
