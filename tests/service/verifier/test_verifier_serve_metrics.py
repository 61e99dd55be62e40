"""``civicpass verifier serve --workers 2`` in real processes: /metrics sums every worker's counters, and the
log is JSON lines with request ids whichever worker answered."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.slow
_TOTAL = re.compile(r"^civicpass_verifications_total\{[^}]*\} (\S+)$", re.MULTILINE)


def test_metrics_are_summed_over_workers_and_logs_are_json(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICPASS_", "PROMETHEUS_"))}
    log = tmp_path / "verifier.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "civicpass", "verifier", "serve", "--port", str(port),
                                 "--workers", "2", "--data-dir", str(tmp_path)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.3)
        sent = 0
        while len(_answering_pids(log)) < 2:  # new connections each time, until both workers have answered
            assert sent < 300, "one worker answered everything"
            r = httpx.post(f"{base}/v1/verify", json={"presentation": "CP1:NOPE", "policy": "resident-basic"},
                           headers={"X-Request-ID": f"multi-{sent}"}, timeout=10)
            assert r.status_code == 200 and r.headers["x-request-id"] == f"multi-{sent}"
            sent += 1
            time.sleep(0.05)  # the access line is written once the answer is sent
        for _ in range(6):  # whichever worker answers the scrape, it reports both workers' sum
            text = httpx.get(f"{base}/metrics", timeout=10).text
            assert sum(map(float, _TOTAL.findall(text))) == sent, text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    answered = [x for x in _lines(log) if str(x.get("request_id", "")).startswith("multi-") and x.get("route")]
    assert len(answered) == sent and {x["route"] for x in answered} == {"/v1/verify"}


def _lines(log):
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


def _answering_pids(log) -> set[int]:
    return {x["pid"] for x in _lines(log) if str(x.get("request_id", "")).startswith("multi-") and x.get("route")}
