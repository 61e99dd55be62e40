"""``civicpass issuer serve`` in a real uvicorn process: the OpenID4VCI exchange over real HTTP."""

from __future__ import annotations

import os
import sys
import time

import httpx
import pytest
from issuer_world import CLERK, RESIDENT, RESIDENT_CLAIMS, Wallet
from support import serve_process, slowloris, wait_all_closed

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPASS_ISSUER_")}
    env.update({"CIVICPASS_ISSUER_HTTP_HEADER_TIMEOUT_S": "2", "CIVICPASS_ISSUER_HTTP_BODY_TIMEOUT_S": "2"})
    argv = [sys.executable, "-m", "civicpass", "issuer", "serve", "--data-dir", str(tmp_path)]
    with serve_process(argv, ready="/healthz", log=tmp_path / "issuer.log", env=env, within=60) as served:
        yield served.url


def test_wallet_receives_credentials_from_a_served_issuer(server):
    with httpx.Client(base_url=server, timeout=10) as http:
        r = http.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS})
        assert r.status_code == 201, r.text
        offer = r.json()
        assert Wallet.parse_offer(offer["credential_offer_uri"]).issuer == server
        got = Wallet(http, int(time.time())).receive(offer["credential_offer_uri"], offer["tx_code"], copies=2)
        assert got["sd_jwt"].count("~") >= 2 and len(got["cp1"]) == 2
        assert http.get("/status-lists/1").headers["content-type"] == "application/statuslist+jwt"


def test_stalled_requests_are_closed_at_their_deadline_while_others_are_served(server):
    # Deadlines of 2 s here (10 s for headers and 30 s for a body by default): issue 13 §5.
    port = int(server.rsplit(":", 1)[1])
    stalled = slowloris(port, 100) + slowloris(port, 20, body=True)
    try:
        t = time.perf_counter()
        assert httpx.get(f"{server}/healthz", timeout=5).status_code == 200
        assert time.perf_counter() - t < 1.0
        assert wait_all_closed(stalled, within=10) < 10
    finally:
        for s in stalled:
            s.close()
