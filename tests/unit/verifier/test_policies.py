"""Policy data and evaluator: one test per predicate kind and per evaluator reason."""

from __future__ import annotations

from typing import Any

import pytest

from credcore.errors import MalformedInputError
from credcore.verification import Check, CheckOutcome, VerificationResult
from verifier.policies import evaluate, load_policies, parse_policy

RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"


def result(claims: dict[str, Any], *, vct: str = RESIDENT, issuer: str = "did:ethr:0x1:0xA", ok: bool = True):
    outcome = CheckOutcome(Check.SIGNATURE, ok, None if ok else "signature_invalid")
    return VerificationResult("cp1", (outcome,), claims, 0, credential_type=vct, issuer=issuer)


def policy(**extra: Any):
    return parse_policy({"name": "p", "credential_types": [RESIDENT], **extra})


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_builtin_policies_load_and_name_their_files():
    found = load_policies()
    assert {"resident-basic", "age-over-19", "grant-traditional-market"} <= set(found)
    assert found["age-over-19"].stale_trust == "accept"


def test_equality_predicate_passes_and_fails_with_its_code():
    p = policy(predicates=[{"claim": "age_over_19", "equals": True, "code": "age_below_minimum"}])
    assert evaluate(p, result({"age_over_19": True})).eligible
    assert codes(evaluate(p, result({"age_over_19": False}))) == ["age_below_minimum"]


def test_equality_compares_types_so_one_is_not_true():
    p = policy(predicates=[{"claim": "age_over_19", "equals": True}])
    assert codes(evaluate(p, result({"age_over_19": 1}))) == ["claim_not_satisfied"]


def test_in_list_and_not_in_list():
    p = policy(predicates=[{"claim": "district", "in": ["Jongno-gu", "Jung-gu"], "code": "residency_not_in_city"}])
    assert evaluate(p, result({"district": "Jung-gu"})).eligible
    assert codes(evaluate(p, result({"district": "Mapo-gu"}))) == ["residency_not_in_city"]
    q = policy(predicates=[{"claim": "district", "not_in": ["Mapo-gu"]}])
    assert not evaluate(q, result({"district": "Mapo-gu"})).eligible


def test_numeric_bounds_refuse_non_numbers():
    p = policy(predicates=[{"claim": "age", "at_least": 19}])
    assert evaluate(p, result({"age": 19})).eligible
    assert not evaluate(p, result({"age": 18})).eligible
    assert not evaluate(p, result({"age": "20"})).eligible
    assert not evaluate(p, result({"age": True})).eligible


def test_nested_claim_path():
    p = policy(predicates=[{"claim": "address/locality", "equals": "Seoul"}])
    assert evaluate(p, result({"address": {"locality": "Seoul"}})).eligible
    assert not evaluate(p, result({"address": {"locality": "Busan"}})).eligible


def test_required_claims_missing_are_each_named():
    p = policy(required_claims=["city", "district"])
    decision = evaluate(p, result({"city": "Seoul"}))
    assert [(r.code, r.claim) for r in decision.reasons] == [("claim_missing", "district")]


def test_predicate_on_undisclosed_claim_is_missing_not_false():
    p = policy(predicates=[{"claim": "age_over_19", "equals": True}])
    assert codes(evaluate(p, result({}))) == ["claim_missing"]


def test_accepted_issuers():
    p = policy(accepted_issuers=["did:ethr:0x1:0xA"])
    assert evaluate(p, result({})).eligible
    assert codes(evaluate(p, result({}, issuer="did:ethr:0x1:0xB"))) == ["issuer_not_accepted"]


def test_credential_types():
    p = policy()
    assert codes(evaluate(p, result({}, vct=MERCHANT))) == ["credential_type_not_accepted"]


def test_programme_not_already_received_via_provided_set_and_claim():
    p = parse_policy({"name": "g", "credential_types": [MERCHANT],
                      "predicates": [{"not_received": "market-2026", "claim": "programmes"}]})
    fresh = result({"programmes": ["other"]}, vct=MERCHANT)
    assert evaluate(p, fresh, received_programmes={"older"}).eligible
    assert codes(evaluate(p, fresh, received_programmes={"market-2026"})) == ["programme_already_received"]
    assert not evaluate(p, result({"programmes": ["market-2026"]}, vct=MERCHANT)).eligible
    assert evaluate(p, result({}, vct=MERCHANT)).eligible  # no claim disclosed: only the provided set decides


def test_contains_on_list_claims():
    p = policy(predicates=[{"claim": "roles", "contains": "merchant"}])
    assert evaluate(p, result({"roles": ["merchant"]})).eligible
    assert not evaluate(p, result({"roles": "merchant"})).eligible


def test_unverified_result_is_never_eligible_whatever_the_claims():
    p = policy()
    assert codes(evaluate(p, result({}, ok=False))) == ["credential_not_verified"]


def test_stale_trust_refuses_or_accepts_as_the_policy_says():
    assert codes(evaluate(policy(), result({}), trust_stale=True)) == ["trust_stale"]
    assert evaluate(policy(stale_trust="accept"), result({}), trust_stale=True).eligible


def test_every_reason_is_reported_not_only_the_first():
    p = policy(required_claims=["city"], accepted_issuers=["x"], predicates=[{"claim": "d", "equals": 1}])
    assert codes(evaluate(p, result({}))) == ["issuer_not_accepted", "claim_missing", "claim_missing"]


def test_reasons_are_bilingual():
    reason = evaluate(policy(required_claims=["city"]), result({})).reasons[0]
    assert reason.message_en and reason.message_ko != reason.message_en


def test_grant_policy_end_to_end_on_claims():
    p = load_policies()["grant-traditional-market"]
    good = {"small_business": True, "market": 12, "programmes": [7]}
    assert evaluate(p, result(good, vct=MERCHANT)).eligible
    assert codes(evaluate(p, result({**good, "small_business": False}, vct=MERCHANT))) == ["not_small_business"]
    assert codes(evaluate(p, result({**good, "market": 0}, vct=MERCHANT))) == ["not_traditional_market"]
    assert codes(evaluate(p, result({**good, "programmes": [7, 2026]}, vct=MERCHANT))) == ["programme_already_received"]
    assert not evaluate(p, result(good, vct=MERCHANT), received_programmes=["2026"]).eligible


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"name": "Bad Name", "credential_types": [RESIDENT]},
        {"name": "p"},
        {"name": "p", "credential_types": [RESIDENT], "typo": 1},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"claim": "a"}]},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"claim": "a", "equals": 1, "in": [1]}]},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"claim": "a", "in": "x"}]},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"claim": "a", "at_least": "1"}]},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"equals": 1}]},
        {"name": "p", "credential_types": [RESIDENT], "predicates": [{"claim": "a", "equals": 1, "code": "Bad"}]},
        {"name": "p", "credential_types": [RESIDENT], "stale_trust": "maybe"},
    ],
)
def test_malformed_policies_are_refused(bad):
    with pytest.raises(MalformedInputError):
        parse_policy(bad)


def test_policy_file_must_match_its_name(tmp_path):
    (tmp_path / "other.yaml").write_text(f"name: mine\ncredential_types: [{RESIDENT}]\n")
    with pytest.raises(MalformedInputError):
        load_policies(tmp_path)


def test_claims_needed_lists_required_and_predicate_claims_once():
    p = policy(required_claims=["city"], predicates=[{"claim": "city", "equals": "x"}, {"claim": "d", "in": [1]},
                                                      {"not_received": "g"}])
    assert p.claims_needed() == ("city", "d")


def test_library_entry_point_verifies_a_cp1_text_without_a_service():
    from credcore._defaults import MemoryReplayGuard
    from credcore.cp1 import issue_cp1, present_cp1
    from credcore.keys import SigningKey
    from credcore.status_list import StatusList
    from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
    from verifier import verify_qr

    issuer, holder, now = SigningKey.generate(), SigningKey.generate(), 1_795_000_000
    trust = TrustSnapshot(
        issuers=(TrustedIssuer("did:x", "x", frozenset({RESIDENT}), (IssuerKey(issuer.public_key),)),),
        status_lists=(StatusListRecord("did:x", 1, "u", StatusList.empty(8)),), synced_at=now)
    cred = issue_cp1({"city": 1000, "district": 1010, "age_over_19": True}, profile="resident-basic", signer=issuer,
                     holder_key=holder.public_key, status_list_id=1, status_index=0, iat=now - 1, exp=now + 60)
    text = present_cp1(cred, holder_key=holder, now=now)
    policy = load_policies()["age-over-19"]
    guard = MemoryReplayGuard()
    assert verify_qr(text, trust=trust, policy=policy, now=now, replay=guard).verified
    assert verify_qr(text, trust=trust, policy=policy, now=now, replay=guard).to_json()["code"] == "replayed"
    later = verify_qr(text, trust=trust, policy=policy, now=now + 3600, replay=MemoryReplayGuard())
    assert later.to_json()["code"] == "expired"


def test_library_entry_point_requires_a_replay_guard():
    # A fresh guard per call would accept the same scanned QR twice: the caller must bring a shared one.
    from verifier import verify_qr

    with pytest.raises(TypeError, match="replay"):
        verify_qr("CP1:x", trust=None, policy=load_policies()["age-over-19"], now=0)  # type: ignore[call-arg]


def test_the_memory_replay_guard_is_atomic_across_threads():
    # Services settle replay keys in worker threads: two threads asking about one key get one True.
    import threading
    import time

    from credcore._defaults import MemoryReplayGuard

    class SlowDict(dict):  # widens the window between the membership test and the insert
        def __contains__(self, key: object) -> bool:
            found = super().__contains__(key)
            time.sleep(0.05)
            return found

    guard = MemoryReplayGuard()
    guard._seen = SlowDict()
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(guard.first_use(b"k", 10))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False, False, False, True]
