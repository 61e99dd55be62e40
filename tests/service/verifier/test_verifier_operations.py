"""The verifier's operations endpoints in process: metrics after verifications, readiness, request logs.

(With a real chain process stopped, readiness and answer times are checked in tests/e2e/test_e2e_flows.py.)
"""

from __future__ import annotations

import logging
import re

from verifier_world import verify


def _count(text: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(r"^civicpass_verifications_total\{" + re.escape(want) + r"\} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_verifications_by_format_policy_and_result(client, world):
    before = client.get("/metrics").text
    text = world.show(world.cp1())
    assert verify(client, text, policy="resident-basic")["verified"] is True
    assert verify(client, text, policy="resident-basic")["code"] == "replayed"
    assert verify(client, world.present(world.credential()), policy="age-over-19")["verified"] is True
    after = client.get("/metrics")
    assert after.status_code == 200
    for labels, added in [({"format": "cp1", "policy": "resident-basic", "result": "ok"}, 1),
                          ({"format": "cp1", "policy": "resident-basic", "result": "replayed"}, 1),
                          ({"format": "sd-jwt-vc", "policy": "age-over-19", "result": "ok"}, 1)]:
        assert _count(after.text, **labels) - _count(before, **labels) == added, labels
    assert re.search(r'civicpass_http_request_duration_seconds_count\{method="POST",route="/v1/verify",'
                     r'status="200"\} \d', after.text)
    assert "civicpass_snapshot_age_seconds" in after.text


def test_the_fast_lane_logs_its_route_template(client, world, caplog):
    with caplog.at_level(logging.INFO, logger="civicpass.access"):
        verify(client, world.show(world.cp1()), policy="resident-basic")
    access = [r for r in caplog.records if r.name == "civicpass.access"]
    assert [(r.method, r.route, r.status) for r in access] == [("POST", "/v1/verify", 200)]


def test_ready_with_static_trust_and_the_database_up(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    body = client.get("/readyz").json()
    assert set(body["components"]) == {"database", "snapshot"}
