"""The wallet's few HTTP exchanges with issuers and verifiers, over an injected ``httpx.Client``.

Apps own the client (proxies, certificate pinning, timeouts); tests hand in one over ``MockTransport``
or the services' ASGI apps. This module adds what every exchange needs: HTTPS only (plain HTTP only to
loopback, or when the caller explicitly allows it for tests), a cap on response size, no redirects
(OAuth endpoints never redirect an API call; following one would send the access token elsewhere), and
one mapping of failures to wallet errors. Error bodies are reduced to their OAuth ``error`` code: an
``error_description`` is shown to the holder only after being cut to a short line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from credcore.errors import CredError
from credcore.keys import parse_json_object
from wallet_sdk.errors import IssuerRefusedError, PresentationRequestError, WalletUnreachableError

__all__ = ["MAX_RESPONSE_BYTES", "Peer", "Response", "check_url"]

MAX_RESPONSE_BYTES: Final = 1024 * 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_url(url: object, *, what: str, allow_http: bool = False) -> str:
    """``url`` if it is an absolute https URL (http only to loopback or when ``allow_http``)."""
    if not isinstance(url, str) or len(url) > 2048:
        raise PresentationRequestError(f"{what} is not a URL")
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise PresentationRequestError(f"{what} is not an absolute https URL")
    if parts.scheme == "http" and not allow_http and parts.hostname not in _LOOPBACK:
        raise PresentationRequestError(f"{what} must use https")
    return url


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self, what: str) -> dict[str, Any]:
        return parse_json_object(self.body, what)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()


@dataclass(frozen=True, slots=True)
class Peer:
    """An issuer or verifier reached through ``http``. ``refused`` is the error raised for its error answers."""

    http: httpx.Client
    allow_http: bool = False
    refused: type[CredError] = IssuerRefusedError
    #: The DPoP nonce each server (scheme, host and port) gave last (RFC 9449 §8, §9).
    dpop_nonces: dict[str, str] = field(default_factory=dict)

    def url(self, url: object, what: str) -> str:
        return check_url(url, what=what, allow_http=self.allow_http)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
        dpop: Callable[[str | None], str] | None = None,
    ) -> Response:
        """Send one request; a status outside ``ok`` raises ``self.refused`` carrying the OAuth error code.

        With ``dpop`` (proofs for this request, given a nonce) the proof goes in the ``DPoP`` header with the
        nonce this server gave last; a refusal asking for a new one (``use_dpop_nonce``, with a ``DPoP-Nonce``)
        is sent once more with a proof carrying it.
        """
        self.url(url, what)
        server = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        for attempt in (1, 2):
            sent = dict(headers or {})
            if dpop is not None:
                sent["dpop"] = dpop(self.dpop_nonces.get(server))
            resp, nonce = self._exchange(method, url, what, headers=sent, data=data, json_body=json_body)
            if nonce:
                self.dpop_nonces[server] = nonce
            if resp.status in ok:
                return resp
            error, description, code = _oauth_error(resp.body)
            if dpop is not None and attempt == 1 and error == "use_dpop_nonce" and nonce:
                continue
            detail = f"{what}: HTTP {resp.status}" + (f" {error}" if error else "")
            if description:
                detail += f" ({description})"
            raise self.refused(detail, error=error or f"http_{resp.status}", status=resp.status, code=code or error)
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def _exchange(self, method: str, url: str, what: str, *, headers: dict[str, str],
                  data: Mapping[str, str] | None, json_body: Mapping[str, Any] | None) -> tuple[Response, str | None]:
        """One exchange: the answer (its size capped) and the ``DPoP-Nonce`` it carried, if a usable one."""
        try:
            with self.http.stream(method, url, headers=headers, data=data, json=json_body, follow_redirects=False) as r:
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise self.refused(f"{what}: response is larger than allowed")
                nonce = r.headers.get("dpop-nonce")
                resp = Response(r.status_code, r.headers.get("content-type", ""), bytes(body))
        except httpx.HTTPError as exc:
            raise WalletUnreachableError(f"{what}: {exc.__class__.__name__}", url=url) from None
        # RFC 9449 §8.1: a nonce is printable ASCII (NQCHAR); anything else is not put in a proof.
        usable = nonce is not None and 0 < len(nonce) <= 512 and all(0x21 <= ord(c) <= 0x7E for c in nonce)
        return resp, nonce if usable else None


def _oauth_error(body: bytes) -> tuple[str, str, str]:
    """RFC 6749 §5.2 / OpenID4VCI §8.3.1.2 error object: (error code, one short line of description, and the
    more precise civicpass ``code`` when the peer adds one, e.g. ``refresh_credential_revoked``)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return "", "", ""
    if not isinstance(obj, dict):
        return "", "", ""
    error = obj.get("error") or obj.get("code") or ""
    desc = obj.get("error_description") or obj.get("detail") or ""
    clean = "".join(c for c in str(desc) if c.isprintable())[:120]
    return _code(error), clean, _code(obj.get("code"))


def _code(value: object) -> str:
    return value[:64] if isinstance(value, str) and value.replace("_", "").isalnum() else ""
