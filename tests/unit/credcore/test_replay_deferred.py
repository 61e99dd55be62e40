"""Replay in two phases: a pending verdict settled with a guard's answer is the synchronous guard's verdict."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from credcore import jws
from credcore._b64 import b64u_encode
from credcore._defaults import MemoryReplayGuard
from credcore.cp1 import TIME_STEP, issue_cp1, present_cp1
from credcore.disclosure import make_disclosure
from credcore.keys import SigningKey
from credcore.presentations import verify_presentation, verify_presentation_deferred
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from credcore.verification import Check, Code, PendingVerification, VerificationResult

NOW = 1_795_000_000
ISS = "did:ethr:0x7a69:0x5FbDB2315678afecb367f032d93F642f64180aa3"
RESIDENT = "urn:civicpass:ResidentCredential:1"
URI = "https://city.example/status-lists/7"
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
AUD, NONCE = "https://verifier.example", "n-0123456789"


def _trust(*, suspended_at: int | None = None) -> TrustSnapshot:
    issuer = TrustedIssuer(ISS, "City", frozenset({RESIDENT}), (IssuerKey(ISSUER.public_key, valid_from=NOW - 86_400),),
                           suspended_at=suspended_at)
    record = StatusListRecord(ISS, 7, URI, StatusList.empty(1024))
    return TrustSnapshot(issuers=(issuer,), status_lists=(record,), block_number=42, synced_at=NOW - 5)


TRUST = _trust()


class _Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


def _cp1() -> str:
    credential = issue_cp1({"city": 26000, "district": 26350, "age_over_19": True}, profile="resident-basic",
                           signer=ISSUER, holder_key=HOLDER.public_key, status_list_id=7, status_index=3,
                           iat=NOW - 3_600, exp=NOW + 86_400)
    return present_cp1(credential, holder_key=HOLDER, now=NOW, nonce=NONCE)


def _sd_jwt_vc() -> str:
    issued = issue_sd_jwt_vc({"given_name": "Ana", "age_over_19": True}, vct=RESIDENT, issuer=ISS, signer=ISSUER,
                             holder_key=HOLDER.public_key, iat=NOW - 100, exp=NOW + 86_400, salts=_Salts(),
                             status={"status_list": {"idx": 3, "uri": URI}})
    return present_sd_jwt(issued, disclose=["given_name"], holder_key=HOLDER, audience=AUD, nonce=NONCE, now=NOW)


def _sd_jwt_vc_failing_disclosures() -> str:
    """Holder binding passes (the KB-JWT covers everything shown); a disclosure the credential never referenced
    fails the disclosures check, which runs after the replay point."""
    payload = {"iss": ISS, "iat": NOW - 100, "vct": RESIDENT, "cnf": {"jwk": HOLDER.public_key.to_jwk()},
               "_sd_alg": "sha-256", "status": {"status_list": {"idx": 3, "uri": URI}}}
    token = jws.sign(payload, ISSUER, header={"typ": "dc+sd-jwt", "kid": ISSUER.public_key.thumbprint()})
    text = "~".join([token, make_disclosure("salt-a", "a", 1).encoded, ""])
    sd_hash = b64u_encode(hashlib.sha256(text.encode()).digest())
    return text + jws.sign({"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash}, HOLDER,
                           header={"typ": "kb+jwt"})


PRESENTATIONS = {"cp1": _cp1, "sd-jwt-vc": _sd_jwt_vc, "sd-jwt-vc-bad-disclosure": _sd_jwt_vc_failing_disclosures}


def _deferred(text: str, trust: TrustSnapshot = TRUST) -> PendingVerification:
    return verify_presentation_deferred(text, trust=trust, now=NOW, audience=AUD, nonce=NONCE)


def _sync(text: str, guard: MemoryReplayGuard | None, trust: TrustSnapshot = TRUST) -> VerificationResult:
    return verify_presentation(text, trust=trust, now=NOW, audience=AUD, nonce=NONCE, replay=guard)


class _Recording(MemoryReplayGuard):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[bytes, int]] = []

    def first_use(self, key: bytes, expires_at: int) -> bool:
        self.asked.append((key, expires_at))
        return super().first_use(key, expires_at)


@pytest.mark.parametrize("kind", PRESENTATIONS)
def test_settled_as_a_first_use_is_the_synchronous_first_use_verdict(kind: str) -> None:
    text = PRESENTATIONS[kind]()
    assert _deferred(text).settle([True]) == _sync(text, MemoryReplayGuard())


@pytest.mark.parametrize("kind", PRESENTATIONS)
def test_settled_as_seen_is_the_synchronous_replayed_verdict(kind: str) -> None:
    text, guard = PRESENTATIONS[kind](), MemoryReplayGuard()
    _sync(text, guard)
    replayed = _sync(text, guard)
    assert _deferred(text).settle([False]) == replayed
    assert replayed.code == Code.REPLAYED and replayed.claims == {}
    assert replayed.outcomes[-1].check == Check.HOLDER_BINDING
    assert [o.check for o in replayed.outcomes][:-1] == [
        Check.FORMAT, Check.TRUST, Check.KEY, Check.SIGNATURE, Check.VALIDITY, Check.STATUS,
    ]


def test_a_presentation_failing_after_the_replay_point_carries_its_key() -> None:
    text = _sd_jwt_vc_failing_disclosures()
    pending = _deferred(text)
    assert pending.if_first_use.code == Code.UNREFERENCED_DISCLOSURE
    assert len(pending.replay_keys) == 1


@pytest.mark.parametrize("kind", ["cp1", "sd-jwt-vc"])
def test_the_synchronous_guard_is_asked_once_about_the_pending_key(kind: str) -> None:
    text, guard = PRESENTATIONS[kind](), _Recording()
    assert _sync(text, guard).verified
    assert guard.asked == list(_deferred(text).replay_keys)
    assert len(guard.asked) == 1


def test_the_cp1_key_lasts_until_its_time_step_is_stale() -> None:
    ((_, expires_at),) = _deferred(_cp1()).replay_keys
    assert expires_at == (NOW // TIME_STEP + 2) * TIME_STEP


@pytest.mark.parametrize("answers", [[], [True, True], [False, False]])
@pytest.mark.parametrize("kind", ["cp1", "sd-jwt-vc"])
def test_settling_with_other_than_one_answer_per_key_is_an_error(kind: str, answers: list[bool]) -> None:
    pending = _deferred(PRESENTATIONS[kind]())
    with pytest.raises(ValueError, match="1 replay key"):
        pending.settle(answers)


@pytest.mark.parametrize("kind", ["cp1", "sd-jwt-vc"])
def test_a_presentation_failing_before_holder_binding_carries_no_key(kind: str) -> None:
    text, suspended, guard = PRESENTATIONS[kind](), _trust(suspended_at=NOW - 10), _Recording()
    pending = _deferred(text, suspended)
    assert pending.replay_keys == ()
    assert pending.if_first_use.code == Code.ISSUER_SUSPENDED
    assert pending.settle([]) == pending.if_first_use == _sync(text, guard, suspended)
    assert guard.asked == []
    with pytest.raises(ValueError, match="0 replay key"):
        pending.settle([True])


def test_an_sd_jwt_without_key_binding_carries_no_key() -> None:
    issued = issue_sd_jwt_vc({"given_name": "Ana"}, vct=RESIDENT, issuer=ISS, signer=ISSUER, holder_key=None,
                             iat=NOW - 100, exp=NOW + 86_400, salts=_Salts(),
                             status={"status_list": {"idx": 3, "uri": URI}})
    pending = verify_presentation_deferred(issued, trust=TRUST, now=NOW)
    assert pending.if_first_use.verified and pending.replay_keys == ()
    assert pending.settle([]) is pending.if_first_use


def test_without_a_guard_the_verdict_is_the_first_use_verdict() -> None:
    text = _cp1()
    assert _sync(text, None) == _deferred(text).if_first_use
    assert _sync(text, None).verified and _sync(text, None).verified
