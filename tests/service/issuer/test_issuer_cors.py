"""CORS for browser wallets: the OpenID4VCI routes and status lists answer any origin (bearer tokens, no
cookies); the admin API sends no CORS headers, so no other site's script can read it."""

from __future__ import annotations

import pytest

ORIGIN = "http://127.0.0.1:8300"


@pytest.mark.parametrize("path", ["/token", "/credential", "/nonce", "/.well-known/openid-credential-issuer"])
def test_wallet_routes_allow_any_origin(client, path) -> None:
    pre = client.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                        "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers


def test_metadata_answer_carries_the_header(client) -> None:
    r = client.get("/.well-known/openid-credential-issuer", headers={"Origin": ORIGIN})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/v1/credentials", "/v1/offers"])
def test_admin_routes_send_no_cors_headers(client, path) -> None:
    pre = client.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    r = client.get(path, headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers
