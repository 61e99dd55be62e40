"""The core flow on the scale-out parts: PostgreSQL for every service's database, and anvil as the chain.
Issue with a PIN, anchored on chain, QR verified, revoked, refused. CI runs both (CIVICPASS_REQUIRE_ALL=1)."""

from __future__ import annotations

import pytest
from e2e_world import RESIDENT, RESIDENT_CLAIMS, Holder, eventually, issue_to

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_issue_anchor_verify_revoke(backend_stack, tmp_path):
    stack = backend_stack
    holder = Holder(tmp_path / "wallet", stack)
    stored, cid = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS, copies=8)

    def anchored():
        items = stack.admin_call("cityhall", "clerk", "GET", f"/v1/credentials/{cid}/anchor").json()["items"]
        return items if items and all(i["root"] and i["block"] for i in items) else None

    items = eventually(anchored, "credential anchored", timeout=20)
    _, (_, anchors, _) = stack.contracts()
    assert anchors.anchor_of(bytes.fromhex(items[0]["root"][2:])) is not None
    verdict = stack.verify(holder.qr(stored.id).text, "resident-basic")
    assert verdict["verified"] is True, verdict

    r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{cid}/revoke")
    assert r.status_code == 200, r.text

    def refused():
        v = stack.verify(holder.qr(stored.id).text, "resident-basic")
        return v if not v["verified"] else None

    assert eventually(refused, "revocation seen", timeout=12, every=1.5)["code"] == "revoked"
