"""Routes: parse, call a service, shape the answer. Errors go to the shared edge (``httpedge``) by raising.

Verification answers are built as plain JSON (no response-model round trip) on the hot path; the
models in ``schemas.py`` still document them in the OpenAPI spec. ``POST /v1/verify`` itself is answered
by ``api/fastlane.py`` ahead of the framework, with the same code as the route here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from httpedge import problem_responses
from verifier.api.fastlane import VERIFY_PATH, FastJSONResponse, answer_verify
from verifier.api.images import read_image
from verifier.api.schemas import PresentationRequestIn, PresentationRequestOut, VerifyIn, VerifyOut
from verifier.errors import UnsupportedMediaError

__all__ = ["install"]

STATIC = Path(__file__).resolve().parent / "static"
# Every refusal is problem+json (httpedge.problems); documenting it lets clients and the schema fuzzer check it.
_PROBLEMS = problem_responses({
    400: "body or parameters malformed or not matching the schema", 404: "unknown policy or request",
    409: "request already used", 410: "request expired", 413: "body or image too large", 415: "unsupported media type",
    422: "request refused", 429: "too many requests from this client", 503: "dependency down or decoders busy"})
_VERDICT = {200: {"model": VerifyOut}, **_PROBLEMS}
_TERMINAL = frozenset({"done", "error", "expired"})
_VERIFY_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": VerifyIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}}



def _form_body(required: bool, fields: dict[str, str]) -> dict[str, Any]:
    props = {name: {"type": "string", "description": why} for name, why in fields.items()}
    return {"requestBody": {"required": required, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": props}}}}}


# OpenID4VP 1.0 5.10 and 8.2/8.3: the wallet's form parameters, so generated clients and fuzzers see them.
_REQUEST_URI_POST_BODY = _form_body(False, {
    "wallet_nonce": "echoed as the request object's wallet_nonce",
    "wallet_metadata": "JSON object: the wallet's algorithms and formats"})
_RESPONSE_BODY = _form_body(True, {
    "vp_token": "direct_post: JSON object keyed by credential query id", "state": "the request's state",
    "response": "direct_post.jwt: compact JWE holding vp_token and state", "error": "the wallet's error code",
    "error_description": "the wallet's error text"})


def _parts(request: Request) -> Any:
    return request.app.state.parts


async def verify(request: Request) -> Response:
    # Served by api/fastlane.py in the running app; this route documents it and shares its code.
    return await answer_verify(_parts(request).verifier, await request.body())


async def verify_image(request: Request, policy: str = Query(max_length=64),
                       nonce: str | None = Query(None, max_length=256)) -> Response:
    svc = _parts(request).verifier
    svc.policy(policy)  # an unknown policy is refused before any pixel is decoded
    text = await request.app.state.images.decode_text(await read_image(request))
    return FastJSONResponse((await svc.verify_async(text, policy, nonce=nonce)).to_json())


async def create_request(body: PresentationRequestIn, request: Request) -> PresentationRequestOut:
    parts = _parts(request)
    client = request.client.host if request.client else "unknown"
    await asyncio.to_thread(request.app.state.rate_limits.hit, "requests", client)  # each request is a stored row
    # an insert and a PNG render: off the event loop
    req, uri, qr = await asyncio.to_thread(parts.requests.create, parts.verifier.policy(body.policy),
                                           response_mode=body.response_mode,
                                           request_uri_method=body.request_uri_method)
    return PresentationRequestOut(id=req.id, uri=uri, request_uri=parts.requests.request_uri(req.id), qr_png=qr,
                                  expires_at=req.expires_at, status=req.status)


async def get_request(request_id: str, request: Request) -> JSONResponse:
    parts = _parts(request)
    return JSONResponse(parts.requests.get(request_id).to_json(parts.verifier.clock.now()))


async def request_object(request_id: str, request: Request) -> Response:
    parts = _parts(request)
    policy = parts.verifier.policy(parts.requests.get(request_id).policy)
    wallet: dict[str, str] = {}
    if request.method == "POST":  # request_uri_method=post (OpenID4VP 1.0 5.10); unknown parameters are ignored
        form = await _form(request, "a request_uri POST", allow_empty=True)
        wallet = {k: form[k] for k in ("wallet_nonce", "wallet_metadata") if k in form}
    token = parts.requests.request_object(request_id, policy, **wallet)
    return Response(token, media_type="application/oauth-authz-req+jwt")


async def _form(request: Request, what: str, *, allow_empty: bool = False) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if allow_empty and not ctype and not await request.body():
        return {}
    if not ctype.startswith("application/x-www-form-urlencoded"):
        raise UnsupportedMediaError(f"{what} is application/x-www-form-urlencoded")
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


async def direct_post(request: Request) -> JSONResponse:
    form = await _form(request, "a direct_post answer")
    parts = _parts(request)
    await asyncio.to_thread(parts.requests.answer, form, parts.verifier)
    return JSONResponse({})  # cross-device: no redirect_uri for the wallet to follow


async def request_events(request_id: str, request: Request) -> StreamingResponse:
    parts = _parts(request)
    parts.requests.get(request_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            state = (await asyncio.to_thread(parts.requests.get, request_id)).to_json(parts.verifier.clock.now())
            if state != last:
                yield f"event: status\ndata: {json.dumps(state, separators=(',', ':'))}\n\n"
                last = state
            if state["status"] in _TERMINAL:
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def policies(request: Request) -> JSONResponse:
    return JSONResponse({"policies": [p.to_json() for p in _parts(request).verifier.policies.values()]})


async def trust_status(request: Request) -> JSONResponse:
    svc = _parts(request).verifier
    snap, now = svc.trust.current(), svc.clock.now()
    keeper, report = _parts(request).keeper, None
    if keeper is not None and keeper.last_report is not None:
        r = keeper.last_report
        report = {"ok": r.ok, "error": r.error, "accepted": r.accepted,
                  "rejected": [{"uri": uri, "reason": why} for uri, why in r.rejected]}
    return JSONResponse({"block": snap.block_number, "age_seconds": snap.age(now), "stale": svc.is_stale(snap, now),
                         "issuers": len(snap.issuers), "status_lists": len(snap.status_lists),
                         "online": bool(keeper and keeper.online), "last_sync": report})


#: The counter page runs only its own files: it shows what scanned QR codes carry, so no inline script or style
#: may run, no other origin is reached, and no other site may frame it (a clerk's click is a verdict).
COUNTER_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "media-src mediastream: blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
COUNTER_HEADERS = {"Content-Security-Policy": COUNTER_CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer", "Permissions-Policy": "camera=(self)", "Cache-Control": "no-cache"}


async def counter(_: Request) -> FileResponse:
    return FileResponse(STATIC / "counter.html", media_type="text/html; charset=utf-8", headers=COUNTER_HEADERS)


def install(app: FastAPI) -> None:
    app.post(VERIFY_PATH, responses=_VERDICT, summary="Verify a presentation against a policy",
             openapi_extra=_VERIFY_BODY)(verify)
    app.post("/v1/verify/image", responses=_VERDICT, summary="Verify a QR code photo (PNG/JPEG body)")(verify_image)
    app.post("/v1/requests", responses=_PROBLEMS, summary="Start an OpenID4VP cross-device request")(create_request)
    app.get("/v1/requests/{request_id}", responses=_PROBLEMS, summary="Poll an OpenID4VP request")(get_request)
    app.get("/v1/requests/{request_id}/request.jwt", responses=_PROBLEMS, summary="Signed request object")(
        request_object)
    app.post("/v1/requests/{request_id}/request.jwt", responses=_PROBLEMS,
             summary="Signed request object for request_uri_method=post", openapi_extra=_REQUEST_URI_POST_BODY)(
        request_object)
    app.get("/v1/requests/{request_id}/events", responses=_PROBLEMS, summary="Server-sent events for a request")(
        request_events)
    app.post("/v1/openid4vp/response", responses=_PROBLEMS, openapi_extra=_RESPONSE_BODY,
             summary="OpenID4VP direct_post and direct_post.jwt response endpoint")(direct_post)
    app.get("/v1/policies", summary="Policies this verifier knows")(policies)
    app.get("/v1/trust", summary="Trust snapshot freshness")(trust_status)
    app.get("/counter", include_in_schema=False)(counter)
