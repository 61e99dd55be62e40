"""Slow and abusive clients against a real ``civicpass verifier serve`` process (issue 13 §5).

The header and body deadlines are set to 2 s here (10 s and 30 s by default) so the test takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import slowloris, wait_all_closed

from civicpass._up_layout import free_port
from credcore.cp1 import issue_cp1, present_cp1
from credcore.keys import SigningKey
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from verifier.snapshot_file import save_snapshot

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
ISSUER_ID = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"
RESIDENT = "urn:civicpass:ResidentCredential:1"
DEADLINE_S = 2


@dataclass
class Served:
    url: str
    port: int
    holder: SigningKey
    credential: bytes

    def body(self, nonce: str) -> dict[str, str]:
        text = present_cp1(self.credential, holder_key=self.holder, now=int(time.time()), nonce=nonce)
        return {"presentation": text, "policy": "age-over-19", "nonce": nonce}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("verifier-slow")
    issuer, holder, now = SigningKey.generate(), SigningKey.generate(), int(time.time())
    snap = TrustSnapshot(
        issuers=(TrustedIssuer(ISSUER_ID, "City", frozenset({RESIDENT}), (IssuerKey(issuer.public_key),)),),
        status_lists=(StatusListRecord(ISSUER_ID, 1, "https://issuer.test/status-lists/1", StatusList.empty(64)),),
        block_number=1, synced_at=now + 3600)
    save_snapshot(data / "trust-snapshot.json", snap)
    credential = issue_cp1({"city": 26000, "district": 26350, "age_over_19": True}, profile="resident-basic",
                           signer=issuer, holder_key=holder.public_key, status_list_id=1, status_index=3,
                           iat=now - 60, exp=now + 86_400)
    port = free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPASS_VERIFIER_")}
    env.update({"CIVICPASS_VERIFIER_SNAPSHOT_FILE": str(data / "trust-snapshot.json"),
                "CIVICPASS_VERIFIER_MAX_SNAPSHOT_AGE_S": "7200",
                "CIVICPASS_VERIFIER_HTTP_HEADER_TIMEOUT_S": str(DEADLINE_S),
                "CIVICPASS_VERIFIER_HTTP_BODY_TIMEOUT_S": str(DEADLINE_S)})
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "civicpass", "verifier", "serve", "--port", str(port),
                             "--data-dir", str(data)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/trust", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Served(url, port, holder, credential)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_verify_answers_during_a_300_connection_slowloris_which_is_then_closed(served):
    stalled = slowloris(served.port, 240) + slowloris(served.port, 60, body=True)
    try:
        with httpx.Client(base_url=served.url, timeout=5) as client:
            t = time.perf_counter()
            r = client.post("/v1/verify", content=json.dumps(served.body("slowloris")),
                            headers={"content-type": "application/json"})
            elapsed = time.perf_counter() - t
        assert r.status_code == 200 and r.json()["verified"] is True, r.text
        assert elapsed < 1.0
        # every stalled connection is closed by its deadline (2 s here), well before 60 s
        assert wait_all_closed(stalled, within=DEADLINE_S + 8) < DEADLINE_S + 8
    finally:
        for s in stalled:
            s.close()


def test_a_trickled_header_is_cut_at_its_deadline_and_answered_408(served):
    import socket

    s = socket.create_connection(("127.0.0.1", served.port), timeout=5)
    try:
        s.sendall(b"GET /v1/policies HTTP/1.1\r\nHost: x\r\n")
        start, got = time.monotonic(), b""
        s.settimeout(0.3)
        while time.monotonic() - start < DEADLINE_S + 5:
            try:
                s.sendall(b"X-a: b\r\n")  # a byte now and then does not reset the deadline
            except OSError:
                break
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                break
            got += chunk
        assert got.startswith(b"HTTP/1.1 408"), got[:40]
        assert time.monotonic() - start < DEADLINE_S + 2
    finally:
        s.close()


def test_oversized_headers_are_refused_with_431(served):
    import socket

    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
        s.sendall(b"GET /v1/policies HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 431")


def test_an_idle_kept_alive_connection_is_closed(served):
    import socket

    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(b"GET /v1/policies HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert wait_all_closed([s], within=8) < 8  # uvicorn's keep-alive timeout (5 s)
