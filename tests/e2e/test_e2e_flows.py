"""The whole path, over HTTP between real processes (embedded chain, SQLite): issuance with a PIN, anchoring,
a CP1 QR photo verified at the counter, revocation, a grant check through OpenID4VP, key rotation, the counter
page in headless Chromium reading a wallet QR from its camera, a counter that keeps verifying while the
chain is down, and readiness, metrics and request logs while the chain process hangs. The tests share one
system and run in file order; the chain outages are last."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import httpx
import pytest
from e2e_world import (
    GRANT,
    GRANT_CLAIMS,
    MERCHANT,
    MERCHANT_CLAIMS,
    RESIDENT,
    RESIDENT_CLAIMS,
    Holder,
    eventually,
    issue_to,
)

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def anchored(stack, issuer, credential_id):
    """The anchor proofs once every item of the credential is in a root on chain, else None."""
    r = stack.admin_call(issuer, "clerk", "GET", f"/v1/credentials/{credential_id}/anchor")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    return items if items and all(i["root"] and i["block"] for i in items) else None


def test_clerk_offer_pin_anchor_qr_photo_verified(stack, tmp_path):
    holder = Holder(tmp_path / "resident", stack)
    offer = stack.offer("cityhall", RESIDENT, RESIDENT_CLAIMS)
    from wallet_sdk import WalletError

    with pytest.raises(WalletError):  # the PIN is what makes an intercepted offer useless
        holder.accept(offer, tx_code="000000" if offer["tx_code"] != "000000" else "111111")
    before = stack.credential_ids("cityhall", RESIDENT)
    stored = holder.accept(offer)
    (cid,) = stack.credential_ids("cityhall", RESIDENT) - before

    started = time.monotonic()
    items = eventually(lambda: anchored(stack, "cityhall", cid), "credential anchored", timeout=20)
    assert time.monotonic() - started < 15  # batch interval 1 s, plus a block and a worker round
    _, (_, anchors, _) = stack.contracts()
    assert anchors.anchor_of(bytes.fromhex(items[0]["root"][2:])) is not None

    shown = holder.qr(stored.id)
    assert shown.text.startswith("CP1:")
    r = stack.http.post(f"{stack.urls['verifier']}/v1/verify/image", params={"policy": "resident-basic"},
                        content=shown.png(), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    verdict = r.json()
    assert verdict["verified"] is True, verdict
    assert verdict["credential_type"] == RESIDENT and verdict["policy"]["eligible"] is True
    assert verdict["claims"]["district"] and verdict["claims"]["city"]
    assert "name" not in verdict["claims"] and "birth_date" not in verdict["claims"]  # CP1 carries the minimum
    stack.shared.update({"holder": holder, "stored": stored, "cid": cid})


def test_revoked_credential_is_refused_within_the_interval(stack):
    state = stack.shared or None
    if state is None:
        pytest.skip("needs the credential of the first test")
    holder, stored, cid = state["holder"], state["stored"], state["cid"]
    r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{cid}/revoke")
    assert r.status_code == 200 and r.json()["status"] == "revoked", r.text
    started = time.monotonic()

    def refused():
        verdict = stack.verify(holder.qr(stored.id).text, "resident-basic")  # each try spends a fresh copy
        return verdict if not verdict["verified"] else None

    verdict = eventually(refused, "revocation seen by the verifier", timeout=12, every=1.5)
    assert verdict["code"] == "revoked", verdict
    assert time.monotonic() - started < 12


def test_grant_eligibility_through_openid4vp(stack, tmp_path):
    from wallet_sdk import prepare, resolve_request, respond

    def ask(holder):
        r = stack.http.post(f"{stack.urls['verifier']}/v1/requests", json={"policy": "grant-traditional-market"})
        assert r.status_code == 200, r.text
        req = r.json()
        request = resolve_request(req["uri"], http=stack.http, now=int(time.time()))
        assert request.authenticated
        consent = prepare(holder.wallet, request)
        assert consent.can_answer
        respond(holder.wallet, consent, http=stack.http, now=int(time.time()))
        polled = stack.http.get(f"{stack.urls['verifier']}/v1/requests/{req['id']}").json()
        assert polled["status"] == "done", polled
        return polled["result"]

    eligible = Holder(tmp_path / "merchant", stack)
    issue_to(stack, eligible, "market", MERCHANT, MERCHANT_CLAIMS)
    issue_to(stack, eligible, "market", GRANT, GRANT_CLAIMS)
    result = ask(eligible)
    assert result["verified"] is True and result["policy"]["eligible"] is True, result

    outside = Holder(tmp_path / "not-small", stack)
    issue_to(stack, outside, "market", MERCHANT, {**MERCHANT_CLAIMS, "small_business": False,
                                                  "business_registration_number": "987-65-43210"})
    issue_to(stack, outside, "market", GRANT, {**GRANT_CLAIMS, "merchant_reference": "987-65-43210"})
    result = ask(outside)
    assert result["policy"]["eligible"] is False, result
    assert "not_small_business" in {r["code"] for r in result["policy"]["reasons"]}, result


def test_key_rotation_keeps_old_credentials_and_refuses_a_revoked_key(stack, tmp_path):
    holder = Holder(tmp_path / "rotation", stack)
    before_compromise, _ = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS)
    time.sleep(max(0.0, int(time.time()) + 1 - time.time()) + 1)
    compromised_since = int(time.time())
    after_compromise, after_id = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS)
    keys = stack.admin_call("cityhall", "operator", "GET", "/v1/keys").json()["keys"]
    (old_kid,) = [k["kid"] for k in keys if k["active"]]

    # Rotate at a quiet moment: anchors landed and the chain's clock not ahead of ours. The issuer signs its
    # re-published status list "now", and a rotation block stamped a second ahead (several blocks in one
    # second) makes that list unacceptable (key_not_valid_at_issuance) until its next change: an issuer bug,
    # reported; this keeps the test about rotation. The old key ends at the block time, after every iat.
    eventually(lambda: anchored(stack, "cityhall", after_id), "anchored before the rotation", 20)
    stack.wait_chain_time_passed()
    r = stack.admin_call("cityhall", "operator", "POST", "/v1/keys/rotate")
    assert r.status_code == 201, r.text
    new_key = r.json()
    assert new_key["kid"] != old_kid
    eventually(lambda: int(time.time()) > new_key["valid_from"], "clock past the new key's start", 10)
    rotated, _ = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS)
    stack.wait_synced()
    for label, stored in (("old", before_compromise), ("old", after_compromise), ("new", rotated)):
        verdict = stack.verify(holder.qr(stored.id).text, "resident-basic")
        assert verdict["verified"] is True, (label, verdict)

    # The old key turns out to have been compromised since `compromised_since`: the registry admin revokes it
    # from then (back-dated). What it signed before still verifies; what it signed after is refused.
    _, (trust, _, _) = stack.contracts()
    issuer_address = stack.account("issuer")["address"]
    trust.revoke_key(old_kid, issuer=issuer_address, revoked_at=compromised_since, sender=stack.admin()).wait()
    stack.wait_synced()
    assert stack.verify(holder.qr(before_compromise.id).text, "resident-basic")["verified"] is True
    refused = stack.verify(holder.qr(after_compromise.id).text, "resident-basic")
    assert refused["verified"] is False and refused["code"] == "key_not_valid_at_issuance", refused
    assert stack.verify(holder.qr(rotated.id).text, "resident-basic")["verified"] is True


def y4m_of(png: bytes, path):
    """A short 640x480 YUV4MPEG2 (4:2:0) video of the image, for Chromium's fake camera."""
    import io

    from PIL import Image

    canvas = Image.new("L", (640, 480), 255)
    qr = Image.open(io.BytesIO(png)).convert("L")
    qr.thumbnail((440, 440))
    canvas.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    chroma = bytes([128]) * (320 * 240)
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            f.write(b"FRAME\n" + canvas.tobytes() + chroma + chroma)
    return path


@pytest.mark.chromium
def test_counter_page_camera_turns_green_for_a_wallet_qr(stack, tmp_path, chromium_path):
    from playwright.sync_api import sync_playwright

    holder = Holder(tmp_path / "camera", stack)
    stored, _ = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS)
    stack.wait_synced()
    video = y4m_of(holder.qr(stored.id).png(), tmp_path / "qr.y4m")
    counter = f"{stack.urls['verifier']}/counter"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
             "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=flags)
        try:
            context = browser.new_context()
            context.grant_permissions(["camera"], origin=stack.urls["verifier"])
            page = context.new_page()
            page.goto(counter)
            page.wait_for_selector("#policy option[value='resident-basic']", state="attached")
            page.select_option("#policy", "resident-basic")
            page.click("#camera-btn")
            page.wait_for_selector("#verdict[data-state='ok']", timeout=15_000)
            assert "Verified" in page.locator("#verdict").inner_text()
        finally:
            browser.close()


def test_counter_keeps_verifying_while_the_chain_is_down_and_catches_up(stack, tmp_path):
    holder = Holder(tmp_path / "offline", stack)
    stored, _ = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS, copies=6)
    stack.wait_synced()
    stack.stop_chain()
    try:
        offline = eventually(lambda: (t := stack.verifier_trust())["age_seconds"] >= 3 and t,
                             "snapshot ageing while the chain is down", 20)
        verdict = stack.verify(holder.qr(stored.id).text, "resident-basic")
        assert verdict["verified"] is True, verdict
        assert verdict["trust"]["block"] == offline["block"] and verdict["trust"]["age_seconds"] >= 3
        assert verdict["trust"]["stale"] is False  # within max_snapshot_age_s (a day by default)
    finally:
        stack.start_chain()
    later, _ = issue_to(stack, holder, "cityhall", RESIDENT, RESIDENT_CLAIMS)
    caught_up = stack.wait_synced(block=offline["block"] + 1, timeout=40)  # the anchors held back land
    assert caught_up["age_seconds"] <= 5
    assert stack.verify(holder.qr(later.id).text, "resident-basic")["verified"] is True


def _ready(stack, name: str) -> httpx.Response:
    return stack.http.get(f"{stack.urls[name]}/readyz", timeout=10)


def test_readiness_with_the_chain_process_stopped_metrics_after_verifications_and_request_ids(stack):
    services = ("cityhall", "verifier")
    for name in services:
        eventually(lambda n=name: _ready(stack, n).status_code == 200 or None, f"{name} ready", 30)
    metrics = stack.http.get(f"{stack.urls['verifier']}/metrics").text
    r = stack.http.post(f"{stack.urls['verifier']}/v1/verify", headers={"X-Request-ID": "e2e-ops-1"},
                        json={"presentation": "CP1:NOT-A-QR", "policy": "resident-basic"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "e2e-ops-1"
    after = stack.http.get(f"{stack.urls['verifier']}/metrics").text
    line = re.compile(r"^civicpass_verifications_total\{[^}]*\} (\S+)$", re.MULTILINE)  # every worker's sum
    assert sum(map(float, line.findall(after))) - sum(map(float, line.findall(metrics))) == 1, after
    logged = [json.loads(x) for x in stack.procs["verifier"].text().splitlines() if x.startswith("{")]
    mine = [x for x in logged if x.get("request_id") == "e2e-ops-1" and x.get("route")]
    assert [(x["svc"], x["route"], x["status"]) for x in mine] == [("verifier", "/v1/verify", 200)]

    chain = stack.procs["chain"].proc
    os.kill(chain.pid, signal.SIGSTOP)  # the chain hangs: it accepts connections and never answers
    try:
        for name in services:
            body = eventually(lambda n=name: (r := _ready(stack, n)).status_code == 503 and r.json(),
                              f"{name} not ready while the chain hangs", 20)
            assert body["components"]["chain"] == {**body["components"]["chain"], "state": "down"}
            assert body["components"]["database"]["state"] == "up"
            for path in ("/healthz", "/readyz"):
                for _ in range(5):
                    started = time.perf_counter()
                    stack.http.get(f"{stack.urls[name]}{path}", timeout=10)
                    # never waiting on the chain: a blocked probe would take its 2 s timeout or more
                    assert time.perf_counter() - started < 0.5, (name, path)
    finally:
        os.kill(chain.pid, signal.SIGCONT)
    for name in services:
        eventually(lambda n=name: _ready(stack, n).status_code == 200 or None, f"{name} ready again", 30)
