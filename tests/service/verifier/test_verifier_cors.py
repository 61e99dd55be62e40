"""CORS for browser wallets: OpenID4VP request objects and the direct_post endpoint answer any origin;
the verify API and the rest send no CORS headers."""

from __future__ import annotations

ORIGIN = "http://127.0.0.1:8300"


def test_openid4vp_routes_allow_any_origin(client) -> None:
    for path in ("/v1/openid4vp/response", "/v1/requests/abc/request.jwt"):
        pre = client.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*", path
    r = client.post("/v1/openid4vp/response", headers={"Origin": ORIGIN}, data={"error": "access_denied"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_verify_api_sends_no_cors_headers(client) -> None:
    pre = client.options("/v1/verify", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
