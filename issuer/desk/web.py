"""The desk's HTTP edge: pages under ``/desk`` (Jinja2, autoescaped), a few JSON probes the pages poll.

Sessions: the cookie is HttpOnly, SameSite=Strict, and Secure unless the request came to a loopback address
(a counter PC talking to a local issuer over plain HTTP); its name carries the ``__Host-`` prefix whenever it
is Secure. Every state-changing request (POST) must carry the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``, compared in constant time) and, when the browser sends one, an ``Origin`` equal to
this server's; sign-in, which has no session yet, is held to the Origin check and a per-address limit.
Pages send a strict Content-Security-Policy (no inline script, no other origin) and ``no-store``.
Errors render as pages in the person's language (JSON for the probes), never as the API's problem+json.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
from collections.abc import Callable, Coroutine
from importlib.resources import files
from ipaddress import ip_address
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.staticfiles import StaticFiles

from credcore.errors import (
    ConflictError,
    CredError,
    InfrastructureError,
    MalformedInputError,
    NotFoundError,
    RateLimitedError,
)
from issuer.api.qr import qr_png
from issuer.desk import i18n
from issuer.desk.accounts import Person, SignInRateLimitedError, SignInRefusedError
from issuer.desk.bulk import BulkDesk
from issuer.desk.forms import fields_of, type_label
from issuer.desk.service import DeskService
from issuer.errors import ForbiddenError, UnauthorizedError
from issuer.holder_index import SEARCHABLE

__all__ = ["install"]

COOKIE = "civicpass_desk"
LANG_COOKIE = "desk_lang"
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_LOOPBACK = {"localhost"}


class CsrfError(ForbiddenError):
    code = "csrf_refused"
    title = "The form's security token is missing or wrong"


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "ko")
    return lang if lang in i18n.LANGS else "ko"


def _secure(request: Request) -> bool:
    host = request.url.hostname or ""
    try:
        return request.url.scheme == "https" or not ip_address(host).is_loopback
    except ValueError:
        return host not in _LOOPBACK


def _cookie_name(request: Request) -> str:
    return "__Host-" + COOKIE if _secure(request) else COOKIE


class DeskRoute(APIRoute):
    """Desk errors become pages (or JSON for the polled probes) in the person's language."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except CredError as exc:
                return _error_page(request, exc)

        return route


def _error_page(request: Request, exc: CredError) -> Response:
    lang = _lang(request)
    if isinstance(exc, UnauthorizedError) and request.method == "GET" and not _wants_json(request):
        return RedirectResponse(f"/desk/signin?next={quote(request.url.path)}&ended=1", status_code=303)
    status, key = 400, "bad_request"
    for cls, code, k in ((UnauthorizedError, 401, "session_ended"), (CsrfError, 403, "csrf"),
                         (ForbiddenError, 403, "forbidden"), (NotFoundError, 404, "not_found"),
                         (ConflictError, 409, "bad_request"), (MalformedInputError, 400, "bad_request"),
                         (InfrastructureError, 503, "unavailable")):
        if isinstance(exc, cls):
            status, key = code, k
            break
    if _wants_json(request):
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=status)
    templates: jinja2.Environment = request.app.state.desk_templates
    body = templates.get_template("error.html").render(
        **_base(request, None), status=status, message=i18n.translate(key, lang), code=exc.code, detail=exc.detail)
    return _html(body, status)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith((".json", "/state"))


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_headers())


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": _CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


router = APIRouter(prefix="/desk", route_class=DeskRoute, include_in_schema=False)


async def desk(request: Request) -> DeskService:
    svc: DeskService = request.app.state.desk
    return svc


async def bulk_desk(request: Request) -> BulkDesk:
    svc: BulkDesk = request.app.state.desk_bulk
    return svc


Desk = Annotated[DeskService, Depends(desk)]
Bulk = Annotated[BulkDesk, Depends(bulk_desk)]


def _person(request: Request, svc: DeskService, touch: bool = True) -> Person:
    token = request.cookies.get(_cookie_name(request))
    if not token:
        raise UnauthorizedError("not signed in")
    return svc.person(token, touch=touch)


def _origin_ok(request: Request) -> bool:
    """No Origin (an older browser, a script) passes on the CSRF token alone; a foreign one never does."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    public = urlsplit(request.app.state.service.settings.base_url)
    return origin in {f"{request.url.scheme}://{request.url.netloc}", f"{public.scheme}://{public.netloc}"}


async def signed_in(request: Request, svc: Desk) -> Person:
    return await run_in_threadpool(_person, request, svc)


async def watching(request: Request, svc: Desk) -> Person:
    """A page polling on its own (offer, CSV job, publication): signed in, but not activity."""
    return await run_in_threadpool(_person, request, svc, False)


async def changing(request: Request, svc: Desk) -> Person:
    """A signed-in person making a change: Origin and CSRF token checked."""
    person = await run_in_threadpool(_person, request, svc)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(("application/x-www-form", "multipart/")):
        sent = str((await request.form()).get("csrf", ""))
    if not _origin_ok(request) or not sent or not hmac.compare_digest(sent.encode(), person.csrf.encode()):
        raise CsrfError("the form's security token is missing or wrong")
    return person


Who = Annotated[Person, Depends(signed_in)]
Watcher = Annotated[Person, Depends(watching)]
Changer = Annotated[Person, Depends(changing)]


def _base(request: Request, person: Person | None) -> dict[str, Any]:
    lang = _lang(request)
    tz = ZoneInfo(request.app.state.service.settings.timezone)

    def when(ts: int | None) -> str:
        return "" if ts is None else dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")

    return {"t": lambda key, **v: i18n.translate(key, lang, **v), "lang": lang, "person": person, "when": when,
            "path": request.url.path, "label": lambda ctype: type_label(ctype, lang),
            "rule": lambda code: i18n.rule_text(code, lang)}


def _page(request: Request, name: str, person: Person | None, status: int = 200, **context: Any) -> HTMLResponse:
    templates: jinja2.Environment = request.app.state.desk_templates
    return _html(templates.get_template(name).render({**_base(request, person), **context}), status)


# --- signing in ---------------------------------------------------------------------------------------------
@router.get("/signin")
def signin_page(request: Request, next: str = "/desk", ended: int = 0) -> HTMLResponse:
    return _page(request, "signin.html", None, next=_safe_next(next), message="session_ended" if ended else "")


def _safe_next(target: str) -> str:
    return target if target.startswith("/desk") and "//" not in target and "\\" not in target else "/desk"


@router.post("/signin")
def signin(request: Request, svc: Desk, username: Annotated[str, Form(max_length=100)],
           password: Annotated[str, Form(max_length=1024)], next: Annotated[str, Form()] = "/desk") -> Response:
    client = request.client.host if request.client else "?"
    try:
        if not _origin_ok(request):
            raise CsrfError("cross-origin sign-in refused")
        try:  # counted in Redis where the issuer has one, so every worker and replica shares the count
            request.app.state.rate_limits.hit("desk_signin", client)
        except RateLimitedError:
            raise SignInRateLimitedError("too many attempts from this address") from None
        token, _ = svc.sign_in(username.strip(), password)
    except SignInRateLimitedError:
        return _page(request, "signin.html", None, 429, next=_safe_next(next), message="signin_limited")
    except SignInRefusedError:
        return _page(request, "signin.html", None, 401, next=_safe_next(next), message="signin_refused")
    response = RedirectResponse(_safe_next(next), status_code=303)
    # No Max-Age: closing the browser on a shared counter PC ends the session too.
    response.set_cookie(_cookie_name(request), token, httponly=True, secure=_secure(request), samesite="strict",
                        path="/")
    return response


@router.post("/signout")
def signout(request: Request, svc: Desk, _: Changer) -> Response:
    svc.sign_out(request.cookies.get(_cookie_name(request), ""))
    response = RedirectResponse("/desk/signin", status_code=303)
    response.delete_cookie(_cookie_name(request), path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


@router.get("/lang")
def language(to: str, next: str = "/desk") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, to if to in i18n.LANGS else "ko", samesite="strict", max_age=365 * 86400)
    return response


@router.get("")
def home(request: Request, who: Who) -> HTMLResponse:
    return _page(request, "home.html", who)


# --- issuing --------------------------------------------------------------------------------------------------
@router.get("/issue")
def issue_pick(request: Request, svc: Desk, who: Who) -> HTMLResponse:
    svc.require(who, "clerk")
    return _page(request, "issue_pick.html", who, types=list(svc.issuer.types))


@router.get("/issue/{type_id}")
def issue_form(request: Request, svc: Desk, who: Who, type_id: str) -> HTMLResponse:
    svc.require(who, "clerk")
    ctype = svc.ctype(type_id)
    return _page(request, "issue_form.html", who, ctype=ctype, fields=fields_of(ctype), values={}, errors={})


@router.post("/issue/{type_id}/check")
async def issue_check(request: Request, svc: Desk, who: Changer, type_id: str) -> JSONResponse:
    values = {k: str(v) for k, v in (await request.form()).items() if k != "csrf"}
    errors = await run_in_threadpool(svc.check, who, type_id, values)
    lang = _lang(request)
    return JSONResponse({"errors": errors, "messages": {k: i18n.rule_text(v, lang) for k, v in errors.items()}})


@router.post("/issue/{type_id}")
async def issue(request: Request, svc: Desk, who: Changer, type_id: str) -> HTMLResponse:
    values = {k: str(v) for k, v in (await request.form()).items() if k != "csrf"}
    result = await run_in_threadpool(svc.issue, who, type_id, values)
    ctype = svc.ctype(type_id)
    if isinstance(result, dict):
        return _page(request, "issue_form.html", who, 422, ctype=ctype, fields=fields_of(ctype), values=values,
                     errors=result)
    qr = base64.b64encode(await run_in_threadpool(qr_png, result.uri)).decode("ascii")
    return _page(request, "offer.html", who, 201, ctype=ctype, offer=result, qr=qr)


@router.get("/offers/{offer_id}/state")
def offer_state(svc: Desk, who: Watcher, offer_id: str) -> JSONResponse:
    return JSONResponse(svc.offer_state(who, offer_id), headers={"Cache-Control": "no-store"})


# --- many at once ------------------------------------------------------------------------------------------
@router.get("/bulk")
def bulk_page(request: Request, svc: Desk, who: Who) -> HTMLResponse:
    svc.require(who, "clerk")
    return _page(request, "bulk.html", who, types=list(svc.issuer.types))


@router.get("/bulk/template/{type_id}.csv")
def bulk_template(bulk: Bulk, who: Who, type_id: str) -> Response:
    bulk.desk.require(who, "clerk")
    return _csv(bulk.template_csv(type_id), f"{type_id}.csv")


@router.post("/bulk")
async def bulk_upload(request: Request, bulk: Bulk, who: Changer) -> Response:
    form = await request.form()
    try:
        upload, type_id = form.get("file"), str(form.get("type", ""))
        if not isinstance(upload, StarletteUpload):
            raise MalformedInputError("choose a CSV file")
        data, filename = await upload.read(), upload.filename or "upload.csv"
    finally:
        await form.close()
    job = await run_in_threadpool(bulk.upload, who, type_id, filename, data)
    return RedirectResponse(f"/desk/bulk/{job.id}" + ("?again=1" if job.existing else ""), status_code=303)


@router.get("/bulk/{job_id}")
def bulk_job(request: Request, bulk: Bulk, who: Who, job_id: str, again: int = 0) -> HTMLResponse:
    job = bulk.job(who, job_id)
    ctype = bulk.issuer.types.get(job.vct)
    return _page(request, "bulk_job.html", who, job=job, ctype=ctype, again=again)


@router.post("/bulk/{job_id}/confirm")
def bulk_confirm(bulk: Bulk, who: Changer, job_id: str) -> Response:
    bulk.confirm(who, job_id)
    return RedirectResponse(f"/desk/bulk/{job_id}", status_code=303)


@router.get("/bulk/{job_id}/state")
def bulk_state(bulk: Bulk, who: Watcher, job_id: str) -> JSONResponse:
    job = bulk.job(who, job_id)
    if job.state == "running":
        bulk.ensure_running(job_id)
    return JSONResponse(job.to_json(), headers={"Cache-Control": "no-store"})


@router.get("/bulk/{job_id}/result.csv")
def bulk_result(bulk: Bulk, who: Who, job_id: str) -> Response:
    return _csv(bulk.result_csv(who, job_id), f"offers-{job_id[:8]}.csv")


def _csv(text: str, filename: str) -> Response:
    # A BOM so that Excel opens Korean text as UTF-8.
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', **_headers()})


# --- looking up -------------------------------------------------------------------------------------------------
_FILTERS = ("type", "state", "date_from", "date_to")
_HOLDER_VALUE_MAX = 200


class HolderInUrlError(MalformedInputError):
    code = "holder_search_in_url"
    title = "A holder's details are searched with the form, not in the address"


@router.get("/credentials")
def lookup(request: Request, svc: Desk, who: Who, *, type: str = "", state: str = "", date_from: str = "",
           date_to: str = "") -> HTMLResponse:
    if "field" in request.query_params or "value" in request.query_params:
        # A name or birth date in a URL stays in the browser's history and in any proxy's log: refused
        # without searching, and the value is not echoed.
        raise HolderInUrlError("search by a holder's details with the look-up form")
    return _lookup(request, svc, who, {"type": type, "state": state, "date_from": date_from, "date_to": date_to,
                                       "field": "", "value": ""})


@router.post("/credentials/search")
async def lookup_holder(request: Request, svc: Desk, who: Changer) -> HTMLResponse:
    """The look-up with a holder's field: a POST, so that the value is in no URL, history or log line."""
    form = await request.form()
    query = {k: str(form.get(k, "")) for k in (*_FILTERS, "field", "value")}
    if len(query["value"]) > _HOLDER_VALUE_MAX:
        raise MalformedInputError(f"a holder's value is at most {_HOLDER_VALUE_MAX} characters")
    return await run_in_threadpool(_lookup, request, svc, who, query)


def _lookup(request: Request, svc: DeskService, who: Person, query: dict[str, str]) -> HTMLResponse:
    tz = ZoneInfo(svc.settings.timezone)
    found = svc.search(who, type_id=query["type"], state=query["state"], date_from=_day(query["date_from"], tz),
                       date_to=_day(query["date_to"], tz, 1), holder_field=query["field"],
                       holder_value=query["value"])
    # The language toggle goes back to the filters page: the search path has no GET page of its own.
    return _page(request, "lookup.html", who, found=found, query=query, types=list(svc.issuer.types),
                 searchable=SEARCHABLE, names=svc.names(), path="/desk/credentials")


def _day(text: str, tz: ZoneInfo, plus: int = 0) -> int | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text) + dt.timedelta(days=plus)
    except ValueError:
        raise MalformedInputError("dates are YYYY-MM-DD") from None
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp())


@router.get("/credentials/{credential_id}")
def credential(request: Request, svc: Desk, who: Who, credential_id: str, changed: str = "") -> HTMLResponse:
    detail = svc.credential(who, credential_id)
    ctype = svc.issuer.types.to_mapping().get(detail.view.vct)
    return _page(request, "credential.html", who, d=detail, ctype=ctype, changed=changed, names=svc.names())


@router.get("/credentials/{credential_id}/state")
def credential_state(svc: Desk, who: Watcher, credential_id: str) -> JSONResponse:
    d = svc.credential(who, credential_id)
    return JSONResponse({"status": d.view.status, "published": d.published, "lists": d.publication,
                         "anchoring": [a["state"] for a in d.anchoring]}, headers={"Cache-Control": "no-store"})


@router.post("/credentials/{credential_id}/status")
def change_status(svc: Desk, who: Changer, credential_id: str, *, action: Annotated[str, Form()],
                  reason: Annotated[str, Form(max_length=200)] = "", confirm: Annotated[str, Form()] = "") -> Response:
    if confirm != "yes":
        raise MalformedInputError("tick the confirmation box to apply this change")
    svc.change_status(who, credential_id, action, reason)
    return RedirectResponse(f"/desk/credentials/{credential_id}?changed={action}", status_code=303)


# --- operator ------------------------------------------------------------------------------------------------------
@router.get("/keys")
def keys(request: Request, svc: Desk, who: Who, rotated: int = 0) -> HTMLResponse:
    return _page(request, "keys.html", who, keys=svc.keys(who), rotated=rotated)


@router.post("/keys/rotate")
def rotate(svc: Desk, who: Changer, confirm: Annotated[str, Form()] = "") -> Response:
    if confirm != "yes":
        raise MalformedInputError("tick the confirmation box to rotate the key")
    svc.rotate(who)
    return RedirectResponse("/desk/keys?rotated=1", status_code=303)


@router.get("/health")
def health(request: Request, svc: Desk, who: Who) -> HTMLResponse:
    return _page(request, "health.html", who, h=svc.health(who))


@router.get("/audit")
def audit_log(request: Request, svc: Desk, who: Who, before: int | None = None) -> HTMLResponse:
    events, verified = svc.audit_log(who, before=before, limit=100)
    return _page(request, "audit.html", who, events=events, verified=verified, names=svc.names())


def install(app: FastAPI, desk_service: DeskService) -> None:
    """Mount the desk on the issuer app (pages, static files, templates)."""
    root = files("issuer") / "desk"
    app.state.desk = desk_service
    app.state.desk_bulk = BulkDesk(desk_service)
    app.state.desk_templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root / "templates")), autoescape=True, undefined=jinja2.StrictUndefined)
    app.include_router(router)
    app.mount("/desk/static", StaticFiles(directory=str(root / "static")), name="desk-static")
