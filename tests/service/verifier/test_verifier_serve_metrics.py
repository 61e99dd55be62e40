"""``civicpass verifier serve --workers 2`` in real processes: /metrics sums every worker's counters, and the
log is JSON lines with request ids whichever worker answered."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from support import serve_verifier

pytestmark = pytest.mark.slow
_TOTAL = re.compile(r"^civicpass_verifications_total\{[^}]*\} (\S+)$", re.MULTILINE)


def test_metrics_are_summed_over_workers_and_logs_are_json(tmp_path):
    with serve_verifier(tmp_path, "--workers", "2", clear=("CIVICPASS_", "PROMETHEUS_"), ready="/healthz",
                        within=90, stop_within=30) as server:
        base, log = server.url, server.log
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
    answered = [x for x in _lines(log) if str(x.get("request_id", "")).startswith("multi-") and x.get("route")]
    assert len(answered) == sent and {x["route"] for x in answered} == {"/v1/verify"}


def _lines(log):
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


def _answering_pids(log) -> set[int]:
    return {x["pid"] for x in _lines(log) if str(x.get("request_id", "")).startswith("multi-") and x.get("route")}
