"""The issuer's operations endpoints in process: issuances and the anchoring queue in /metrics, readiness.

(With a real chain process stopped, readiness and answer times are checked in tests/e2e/test_e2e_flows.py.)
"""

from __future__ import annotations

import re

import pytest
from issuer_world import CLERK, RESIDENT, RESIDENT_CLAIMS, HolderKey

pytestmark = pytest.mark.usefixtures("service")


def _value(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_issuances_by_type_and_show_the_anchoring_queue(client):
    before = client.get("/metrics").text
    keys = [HolderKey() for _ in range(3)]
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS,
                                                            "holder_jwks": [k.jwk for k in keys]})
    assert r.status_code == 201, r.text
    after = client.get("/metrics").text
    issued = f'{{type="{RESIDENT}"}}'
    assert _value(after, "civicpass_issuances_total", issued) - _value(before, "civicpass_issuances_total", issued) == 1
    assert _value(after, "civicpass_anchoring_queue_depth") >= 3  # one digest per artefact, until anchored
    for name in ("civicpass_anchoring_last_block", "civicpass_status_publication_lag_seconds"):
        assert re.search(rf"^{name} \S+$", after, re.MULTILINE), name
    assert "Kim" not in after and r.json()["id"] not in after


def test_healthz_calls_nothing_and_readyz_names_each_component(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and "issuer" in health
    body = client.get("/readyz").json()
    assert {"database", "anchoring"} <= set(body["components"])
