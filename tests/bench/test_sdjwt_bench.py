"""SD-JWT VC budgets (issue #2), one core:

- verify a presentation of an 8-claim credential with 2 claims disclosed and key binding: >= 2,500/s,
  and >= 2x the OpenWallet Foundation ``sd-jwt`` library verifying the same presentation in the same run;
- issue a credential with 8 disclosable claims: >= 2,500/s.

Figures are CPU time of this process ("one core", whatever else the machine runs), best of seven runs,
measured alternately for paired figures so that a busy machine skews both alike. The crypto floor (the
two ES256 verifications every presentation needs) is recorded beside them, since it bounds what any
parser could reach on this core. Under ``scripts/bench`` (benchmarks enabled) the budgets are asserted;
in an ordinary test run (benchmarks disabled) each benchmark function runs once as a correctness check.
"""

from __future__ import annotations

import itertools
import json
import time
import timeit
from collections.abc import Callable
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from credcore import _sdjwt_verify
from credcore._b64 import b64u_encode
from credcore._sdjwt_jose import parse_jws
from credcore.keys import SigningKey
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt_vc
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from tests.bench.budget import record

NOW = 1_795_000_000
BUDGET_PER_SECOND = 2_500
LIBRARY_FACTOR = 2.0
VCT = "urn:civicpass:ResidentCredential:1"
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
ISS = "did:ethr:0x539:0x00000000000000000000000000000000000000a7"
URI = "https://city7.example/status-lists/3"
AUD, NONCE = "https://counter.city7.example", "Vq3m9X0rT2"
CLAIMS = {
    "given_name": "Ana", "family_name": "Kim", "birthdate": "1990-04-01", "age_over_19": True,
    "city": "Seoul", "district": "Jongno-gu", "resident_since": "2015-03-01", "resident_id_digest": "9f2c" * 16,
}


class Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


def _trust() -> TrustSnapshot:
    """Twenty issuers with two keys each and a 1,000,000-entry status list each; ours is number 7."""
    issuers, lists = [], []
    for i in range(20):
        issuer_id = ISS if i == 7 else f"did:ethr:0x539:0x{i:040x}"
        keys = (IssuerKey(SigningKey.generate().public_key), IssuerKey(SigningKey.generate().public_key))
        if i == 7:
            keys = (*keys, IssuerKey(ISSUER.public_key, valid_from=NOW - 86_400))
        issuers.append(TrustedIssuer(issuer_id, f"city {i}", frozenset({VCT}), keys))
        uri = URI if i == 7 else f"https://city{i}.example/status-lists/3"
        lists.append(StatusListRecord(issuer_id, 3, uri, StatusList.empty(1_000_000).set(654_321, 1)))
    return TrustSnapshot(issuers=tuple(issuers), status_lists=tuple(lists), block_number=1, synced_at=NOW - 5)


def _issue() -> str:
    return issue_sd_jwt_vc(
        CLAIMS, vct=VCT, issuer=ISS, signer=ISSUER, holder_key=HOLDER.public_key, iat=NOW - 3_600,
        exp=NOW + 86_400 * 365, salts=Salts(), status={"status_list": {"idx": 123_456, "uri": URI}},
    )


def _presentation() -> str:
    return present_sd_jwt(_issue(), disclose=["age_over_19", "district"], holder_key=HOLDER, audience=AUD,
                          nonce=NONCE, now=NOW)


def _best(fns: list[Callable[[], Any]], number: int = 200) -> list[float]:
    """Seconds per call for each function, CPU time, best of seven alternating runs."""
    best = [float("inf")] * len(fns)
    for _ in range(7):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], timeit.Timer(fn, timer=time.process_time).timeit(number) / number)
    return best


def _library_verifier(text: str) -> Callable[[], dict[str, Any]]:
    issuer_jwk = JWK.from_json(json.dumps(ISSUER.public_key.to_jwk()))  # parsed once, as we cache ours

    def verify() -> dict[str, Any]:
        verifier = SDJWTVerifier(text, lambda iss, header: issuer_jwk, expected_aud=AUD, expected_nonce=NONCE)
        payload: dict[str, Any] = verifier.get_verified_payload()
        return payload

    return verify


def _report(capsys: pytest.CaptureFixture[str], benchmark: Any, line: str, **figures: Any) -> None:
    benchmark.extra_info.update(figures)
    with capsys.disabled():
        print(f"\n{line}")


@pytest.mark.benchmark(group="sd-jwt verify", timer=time.process_time, min_rounds=300)
def test_sd_jwt_library_verify_same_presentation(benchmark: Any) -> None:
    payload = benchmark(_library_verifier(_presentation()))
    assert payload["district"] == "Jongno-gu" and "given_name" not in payload


@pytest.mark.benchmark(group="sd-jwt verify", timer=time.process_time, min_rounds=300)
def test_verify_sd_jwt_vc_throughput(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    trust, text = _trust(), _presentation()

    def ours() -> Any:
        return verify_sd_jwt_vc(text, trust=trust, now=NOW, audience=AUD, nonce=NONCE, replay=None)

    result = benchmark(ours)
    assert result.verified, result.to_json()
    assert result.claims["district"] == "Jongno-gu" and "given_name" not in result.claims
    if benchmark.disabled:
        return
    issuer_jwt, kb_jwt = text.split("~")[0], text.split("~")[-1]
    issuer_sig, kb_sig = parse_jws(issuer_jwt, frozenset({"ES256"})), parse_jws(kb_jwt, frozenset({"ES256"}))

    def floor() -> None:  # the two ES256 verifications no implementation can skip
        assert issuer_sig.verify_with(ISSUER.public_key) and kb_sig.verify_with(HOLDER.public_key)

    seconds, library, floor_seconds = _best([ours, _library_verifier(text), floor])
    per_second, ratio = 1 / seconds, library / seconds
    _report(
        capsys, benchmark,
        f"SD-JWT VC verify: {per_second:.0f}/s, sd-jwt library {1 / library:.0f}/s, ratio {ratio:.2f}x, "
        f"crypto floor {1 / floor_seconds:.0f}/s (budget {BUDGET_PER_SECOND}/s and {LIBRARY_FACTOR:.0f}x)",
        per_second=round(per_second), library_per_second=round(1 / library), ratio=round(ratio, 2),
        crypto_floor_per_second=round(1 / floor_seconds),
    )
    fast = record(benchmark, issue=2, what="SD-JWT VC verify (8 claims, 2 disclosed, KB), one core",
                  value=per_second, op=">=", target=BUDGET_PER_SECOND, unit="/s")
    ahead = record(benchmark, issue=2, what="SD-JWT VC verify vs the OpenWallet sd-jwt library, same run",
                   value=ratio, op=">=", target=LIBRARY_FACTOR, unit="x")
    assert ahead, f"only {ratio:.2f}x the sd-jwt library"
    assert fast, (
        f"{per_second:.0f}/s < {BUDGET_PER_SECOND}/s; the two ES256 checks alone allow {1 / floor_seconds:.0f}/s here"
    )


@pytest.mark.benchmark(group="sd-jwt verify", timer=time.process_time, min_rounds=300)
def test_verify_sd_jwt_vc_with_a_new_holder_key_each_time(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The same presentation with the parsed-holder-key cache emptied first: a holder the verifier never saw."""
    trust, text = _trust(), _presentation()

    def cold() -> Any:
        _sdjwt_verify._cached_key.cache_clear()
        return verify_sd_jwt_vc(text, trust=trust, now=NOW, audience=AUD, nonce=NONCE, replay=None)

    assert benchmark(cold).verified
    if not benchmark.disabled:
        per_second = 1 / _best([cold])[0]
        _report(capsys, benchmark, f"SD-JWT VC verify, uncached holder key: {per_second:.0f}/s",
                per_second=round(per_second))


@pytest.mark.benchmark(group="sd-jwt issue", timer=time.process_time, min_rounds=300)
def test_issue_sd_jwt_vc_throughput(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    issued = benchmark(_issue)
    assert issued.count("~") == len(CLAIMS) + 1
    if benchmark.disabled:
        return
    per_second = 1 / _best([_issue])[0]
    _report(capsys, benchmark, f"SD-JWT VC issue (8 disclosable claims): {per_second:.0f}/s (budget "
            f"{BUDGET_PER_SECOND}/s)", per_second=round(per_second))
    ok = record(benchmark, issue=2, what="SD-JWT VC issue (8 disclosable claims), one core", value=per_second,
                op=">=", target=BUDGET_PER_SECOND, unit="/s")
    assert ok, f"{per_second:.0f}/s < {BUDGET_PER_SECOND}/s"
