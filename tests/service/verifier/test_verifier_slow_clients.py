"""Slow and abusive clients against a real ``civicpass verifier serve`` process (issue 13 §5).

The header and body deadlines are set to 2 s here (10 s and 30 s by default) so the test takes seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from support import resident_snapshot, serve_verifier, slowloris, wait_all_closed

from credcore.cp1 import present_cp1
from credcore.keys import SigningKey

pytestmark = pytest.mark.slow
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
    _, holder, credential = resident_snapshot(data)
    settings = {"snapshot_file": data / "trust-snapshot.json", "max_snapshot_age_s": 7200,
                "http_header_timeout_s": DEADLINE_S, "http_body_timeout_s": DEADLINE_S}
    with serve_verifier(data, settings=settings) as server:
        yield Served(server.url, server.port, holder, credential)


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
        start, got, sending = time.monotonic(), b"", True
        s.settimeout(0.3)
        while time.monotonic() - start < DEADLINE_S + 5:
            if sending:
                try:
                    s.sendall(b"X-a: b\r\n")  # a byte now and then does not reset the deadline
                except OSError:
                    sending = False  # closed after its answer, which may still wait to be read
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
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
