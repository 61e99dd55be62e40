"""POST /v1/verify with CP1: QR texts, as a counter's USB scanner sends them."""

from __future__ import annotations

from verifier_world import FIXED_NOW, MERCHANT_CLAIMS, REVOKED_IDX, verify


def test_resident_cp1_is_verified_for_age(client, world):
    body = verify(client, world.show(world.cp1()))
    assert body["verified"] is True
    assert body["format"] == "cp1"
    assert body["claims"] == {"city": 26000, "district": 26350, "age_over_19": True}


def test_cp1_scanned_twice_in_one_time_step_is_a_replay(client, world):
    text = world.show(world.cp1())
    assert verify(client, text)["verified"] is True
    body = verify(client, text)
    assert body["verified"] is False and body["code"] == "replayed"


def test_revoked_cp1(client, world):
    assert verify(client, world.show(world.cp1(idx=REVOKED_IDX)))["code"] == "revoked"


def test_old_cp1_proof_is_not_fresh(client, world):
    assert verify(client, world.show(world.cp1(), now=FIXED_NOW - 300))["code"] == "proof_not_fresh"


def test_cp1_nonce_must_match_the_one_given(client, world):
    assert verify(client, world.show(world.cp1(), nonce="abc123"), nonce="abc123")["verified"] is True
    assert verify(client, world.show(world.cp1(), nonce="abc123"))["code"] == "nonce_mismatch"


def test_merchant_cp1_grant_policy_and_bytes_claims_in_hex_as_the_cli_shows_them(client, world):
    body = verify(client, world.show(world.cp1(profile="merchant-eligibility")), policy="grant-traditional-market")
    assert body["verified"] is True
    assert body["claims"]["business_number_digest"] == MERCHANT_CLAIMS["business_number_digest"].hex()


def test_grant_already_received_is_refused_with_a_reason(client, world):
    cred = world.cp1({**MERCHANT_CLAIMS, "programmes": [7, 2026]}, profile="merchant-eligibility")
    body = verify(client, world.show(cred), policy="grant-traditional-market")
    assert (body["verified"], body["policy"]["code"]) == (False, "programme_already_received")
    body = verify(client, world.show(world.cp1(profile="merchant-eligibility")), policy="grant-traditional-market",
                  received_programmes=["2026"])
    assert body["policy"]["code"] == "programme_already_received"


def test_tampered_cp1_text_is_refused(client, world):
    text = world.show(world.cp1())
    flipped = text[:-6] + ("0" if text[-6] != "0" else "1") + text[-5:]
    assert verify(client, flipped)["verified"] is False
