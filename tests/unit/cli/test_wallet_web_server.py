"""civicpass.wallet_web: the web wallet's files with security headers, trust.json from a snapshot file, a
clear refusal without a build, and CORS only on the issuer and verifier routes a browser wallet calls."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from support import serve_process

with warnings.catch_warnings():  # starlette warns that its TestClient prefers httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from civicpass.wallet_web import FileTrust, WalletNotBuiltError, create_wallet_app


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "index.html").write_text("<!doctype html><title>t</title>")
    (dist / "app.js").write_text("export {}")
    return dist


def test_serves_the_app_with_security_headers(tmp_path: Path) -> None:
    client = TestClient(create_wallet_app(_dist(tmp_path)))
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"  # a new build reaches the service worker
    assert client.get("/app.js").status_code == 200


def test_trust_json_comes_from_the_snapshot_file_without_its_status_bits(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"format": "civicpass-trust-snapshot-v1", "issuers": [{"issuer_id": "did:x"}],
                                "status_lists": [{"uri": "http://i/status-lists/1", "digest": "ab"}]}))
    client = TestClient(create_wallet_app(_dist(tmp_path), FileTrust(snap)))
    doc = client.get("/trust.json").json()
    assert doc["issuers"] == [{"issuer_id": "did:x"}] and doc["status_lists"] == []
    assert doc["status_digests"] == {"http://i/status-lists/1": "ab"}


def test_trust_json_without_a_source_or_with_a_broken_one_is_a_problem(tmp_path: Path) -> None:
    assert TestClient(create_wallet_app(_dist(tmp_path))).get("/trust.json").status_code == 404
    broken = TestClient(create_wallet_app(_dist(tmp_path), FileTrust(tmp_path / "missing.json")))
    r = broken.get("/trust.json")
    assert r.status_code == 503 and r.json()["code"] == "trust_unavailable"


def test_refuses_to_start_without_a_build(tmp_path: Path) -> None:
    with pytest.raises(WalletNotBuiltError, match="not built"):
        create_wallet_app(tmp_path)


def test_civicpass_wallet_serve_serves_the_built_wallet(node_modules: Path, tmp_path: Path) -> None:
    import sys

    import httpx

    from civicpass.wallet_web import DIST

    assert (DIST / "app.js").is_file(), "scripts/_setup.sh builds the web wallet"
    with serve_process([sys.executable, "-m", "civicpass", "wallet", "serve"], ready="/", log=tmp_path / "serve.log",
                       cwd=tmp_path, stop_within=10, answered=lambda _: True) as server:
        page = httpx.get(f"{server.url}/", timeout=2)
        assert page.status_code == 200 and "시민패스" in page.text
        assert httpx.get(f"{server.url}/trust.json", timeout=5).status_code == 404  # no trust given
