"""Revocation budget (issue #4): a revocation is visible to a syncing verifier under the configured status
publication interval plus one block.

Measured end to end on the real processes of ``tests/e2e/e2e_world.py`` (chain, issuers, verifier, each its own
``civicpass ... serve``): from the moment the operator's ``POST /v1/credentials/{id}/revoke`` is sent to the
issuer, to the first answer of the verifier's ``POST /v1/verify`` that refuses a presentation of that credential
with code ``revoked``. Each probe is a new SD-JWT presentation (fresh KB-JWT nonce), so the replay guard never
answers; a refusal with any other code (``status_unknown`` while the verifier holds a chain digest whose list it
could not fetch yet, say) is counted in the breakdown and does not end the sample.

Configuration, chosen so that "one block" is a real block and the run stays short:

- Chain: anvil (``Stack(engine="anvil")``), switched after start-up to interval mining with a 1 s block time
  (``evm_setIntervalMining``: ``chain up`` has no block-time option, and the embedded chain mines one block per
  transaction at once, so on it "one block" would be no time at all). **One block = the 1 s block time.**
- Issuer: ``CIVICPASS_ISSUER_STATUS_PUBLISH_INTERVAL`` = P = 5 s instead of the 60 s default (the budget is
  relative to P). P is a rate limit (issuer/status_publisher.py): a revocation wakes the issuer's worker and
  goes out at once unless a publication went out less than P ago, and then the moment P has passed.
- Verifier: a full sync round every ``CIVICPASS_VERIFIER_SYNC_INTERVAL_S`` = 1 s, and one at once when its
  head probe (every ``head_poll_s``, default 0.5 s) sees a new block.
- Target: P + one block = 6 s, for every revocation. The worst sample is the asserted figure; the median is
  reported beside it.

A verifier also polls the issuer's newest signed list and applies at once what it makes stricter (issue #13:
revocation fails closed while the chain is down); when that poll sees the revocation first, the sample says
``seen_via_issuer_signed_list`` instead of the chain path's steps. The chain path has three waits in series:
the rate limit (up to P, for a revocation right after a publication), the block that includes the transaction
(up to one block) and the verifier noticing that block (up to its head poll plus a round). The figures of each
revocation say which wait took how long.

Samples: revocations of distinct credentials at chosen phases of the rate limit. For each, a pacer credential
is revoked first and the issuer's publication transaction for it (its account's pending nonce, polled every
20 ms) shows when the limit restarted; the measured credential is revoked 0.1, 1.1, 2.1, 3.1 or 4.1 s later,
0.1 s being the longest wait for the next publication. Probes run every 150 ms; each also records the issuer
account's pending nonce, the StatusRegistry head, the list the issuer serves and the verifier's snapshot block (the
latency is taken when the refusing answer arrives; the probe before it bounds it from below), from which
the breakdown is derived afterwards: the publication carrying the revocation is the first served list that has
the credential's bit set and whose sha256 is the head digest; its transaction (found in the blocks by that
digest) gives the nonce and block to look for. Under ``scripts/bench`` there are 5 samples and the budget is
asserted; in the ordinary test run one sample (phase 0.1 s) runs as a smoke test, about 40 s in all, most of
it starting the processes.
"""

from __future__ import annotations

import hashlib
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from credcore.sdjwt import present_sd_jwt
from credcore.status_list import unsafe_decode_status_list_jwt
from tests.bench.budget import record
from tests.e2e import e2e_world
from tests.e2e.e2e_world import RESIDENT, RESIDENT_CLAIMS, Holder, Stack, eventually, issue_to

pytestmark = [pytest.mark.chain, pytest.mark.node, pytest.mark.slow]

PUBLISH_INTERVAL_S = 5
BLOCK_TIME_S = 1
SYNC_INTERVAL_S = 1
HEAD_POLL_S = 0.5  # the verifier's default
TARGET_S = PUBLISH_INTERVAL_S + BLOCK_TIME_S
PHASES_S = (0.1, 1.1, 2.1, 3.1, 4.1)  # after the pacer's publication; one sample each under scripts/bench
SMOKE_PHASES_S = (0.1,)
PROBE_EVERY_S = 0.15
SAMPLE_TIMEOUT_S = 3 * PUBLISH_INTERVAL_S + 10
ISSUER = "cityhall"
ISSUER_ROLE = e2e_world.ISSUERS[ISSUER][0]  # the dev account that signs its transactions
POLICY = "resident-basic"


@pytest.fixture(scope="module")
def world(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"CIVICPASS_ISSUER_STATUS_PUBLISH_INTERVAL": str(PUBLISH_INTERVAL_S),
           "CIVICPASS_VERIFIER_SYNC_INTERVAL_S": str(SYNC_INTERVAL_S),
           "CIVICPASS_VERIFIER_HEAD_POLL_S": str(HEAD_POLL_S)}
    stack = Stack(tmp_path_factory.mktemp("revocation"), engine="anvil", env=env)
    try:
        try:
            stack.start()
        except BaseException:
            print(stack.logs())
            raise
        yield stack
    finally:
        stack.close()


@dataclass(frozen=True, slots=True)
class Seen:
    """One probe round, ``t`` seconds after the revoke request was sent."""

    t: float
    code: str | None  # the verdict's code when refused, None when verified
    trust_block: int | None
    pending_nonce: int
    head_version: int
    head_digest: bytes
    served_digest: bytes
    served_has_bit: bool


@dataclass
class Sample:
    credential: str
    phase: float
    revoked_at: float = 0.0  # perf_counter when the revoke request was sent
    timeline: list[Seen] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds after revoked_at
    interim: dict[str, int] = field(default_factory=dict)  # refusals with another code, by code

    @property
    def latency(self) -> float:
        return self.steps["refused_revoked"]


class Chain:
    def __init__(self, stack: Stack) -> None:
        self.w3 = stack.web3()
        _, (_, _, self.status) = stack.contracts()
        self.issuer = stack.account(ISSUER_ROLE)["address"]

    def pending_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.issuer, "pending"))

    def head(self, list_id: int) -> tuple[int, bytes]:
        head = self.status.latest(self.issuer, list_id)
        return (head.version, head.digest) if head else (0, b"")

    def publication(self, digest: bytes, back: int = 60) -> tuple[int, int]:
        """(nonce, block) of the issuer's transaction that put ``digest`` on chain, in the last ``back`` blocks."""
        head = int(self.w3.eth.block_number)
        for number in range(head, max(-1, head - back), -1):
            for tx in self.w3.eth.get_block(number, full_transactions=True)["transactions"]:
                if tx["from"].lower() == self.issuer.lower() and digest in bytes(tx["input"]):
                    return int(tx["nonce"]), number
        raise AssertionError(f"no transaction with digest {digest.hex()} in the last {back} blocks")


class Probe:
    """A fresh SD-JWT presentation of one credential per call, and the list the issuer serves for it."""

    def __init__(self, stack: Stack, stored: Any) -> None:
        self.stack, self.stored = stack, stored
        self.audience = stack.urls["verifier"]
        self.list_uri, self.index = stored.status.uri, stored.status.index
        self.list_id = int(self.list_uri.rstrip("/").rsplit("/", 1)[1])

    def verdict(self) -> dict[str, Any]:
        nonce = secrets.token_urlsafe(12)
        text = present_sd_jwt(
            self.stored.sd_jwt,
            disclose=["city", "district"],
            holder_key=self.stored.sd_jwt_key,
            audience=self.audience,
            nonce=nonce,
            now=int(time.time()),
        )
        return self.stack.verify(text, POLICY, nonce=nonce, audience=self.audience)

    def served(self) -> tuple[bytes, bool]:
        """sha256 of the status list JWT the issuer serves, and whether it has this credential's bit set."""
        r = self.stack.http.get(self.list_uri, headers={"accept": "application/statuslist+jwt"})
        assert r.status_code == 200, r.text
        token = r.text.strip()
        _, parsed = unsafe_decode_status_list_jwt(token)
        return hashlib.sha256(token.encode("ascii")).digest(), parsed.status_list.get(self.index) != 0


def revoke(stack: Stack, cid: str) -> None:
    r = stack.admin_call(ISSUER, "operator", "POST", f"/v1/credentials/{cid}/revoke")
    assert r.status_code == 200 and r.json()["status"] == "revoked", r.text


def published(stack: Stack, chain: Chain, pacer: str) -> float:
    """Revoke ``pacer`` and return when the issuer publishes it (its transaction enters the pool)."""
    before = chain.pending_nonce()
    revoke(stack, pacer)
    deadline = time.perf_counter() + SAMPLE_TIMEOUT_S
    while chain.pending_nonce() == before:
        assert time.perf_counter() < deadline, "the issuer did not publish the pacer's revocation"
        time.sleep(0.02)
    return time.perf_counter()


def measure(stack: Stack, chain: Chain, probe: Probe, sample: Sample, revoke_at: float) -> None:
    assert probe.verdict()["verified"] is True  # the credential verifies before its revocation
    while (wait := revoke_at - time.perf_counter()) > 0:
        time.sleep(min(wait, 0.01))
    sample.revoked_at = time.perf_counter()
    revoke(stack, sample.credential)
    sample.steps["revoke_answered"] = time.perf_counter() - sample.revoked_at
    deadline = sample.revoked_at + SAMPLE_TIMEOUT_S
    while True:
        started = time.perf_counter()
        verdict = probe.verdict()
        t = time.perf_counter() - sample.revoked_at
        nonce = chain.pending_nonce()
        version, digest = chain.head(probe.list_id)
        served, has_bit = probe.served()
        trust_block = stack.verifier_trust()["block"]
        code = None if verdict["verified"] else verdict["code"]
        sample.timeline.append(Seen(t, code, trust_block, nonce, version, digest, served, has_bit))
        if code == "revoked":
            return
        if started > deadline:
            pytest.fail(f"revocation not seen as `revoked` within {SAMPLE_TIMEOUT_S} s: {sample}\n{stack.logs()}")
        time.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - started)))


def breakdown(chain: Chain, sample: Sample) -> None:
    """Fill ``sample.steps`` from its timeline: when each step of the path was first seen."""
    line = sample.timeline
    steps = sample.steps

    def first(what: str, pred: Any) -> Seen | None:
        found = next((s for s in line if pred(s)), None)
        if found is not None:
            steps.setdefault(what, round(found.t, 3))
        return found

    for s in line:
        if s.code not in (None, "revoked"):
            sample.interim[s.code] = sample.interim.get(s.code, 0) + 1
            steps.setdefault(f"refused_{s.code}", round(s.t, 3))
    refused = first("refused_revoked", lambda s: s.code == "revoked")
    if refused is not None and len(line) > 1:  # the refusal began after this probe: the latency's lower bound
        steps["last_probe_not_revoked"] = round(line[line.index(refused) - 1].t, 3)
    ours = first("issuer_serves_list_with_it", lambda s: s.served_has_bit and s.served_digest == s.head_digest)
    if ours is None:
        # Refused before the chain carried the list: the verifier applied the issuer-signed newer list (it only
        # ever makes a status stricter), the path that keeps revocation enforced while the chain is down.
        assert refused is not None
        steps.setdefault("seen_via_issuer_signed_list", round(refused.t, 3))
        return
    first("publication_on_chain", lambda s: s.head_version >= ours.head_version)
    nonce, block = chain.publication(ours.head_digest)
    first("publication_tx_sent", lambda s: s.pending_nonce > nonce)
    first("verifier_synced_its_block", lambda s: (s.trust_block or 0) >= block)


def run(stack: Stack, tmp_path: Path, phases: tuple[float, ...]) -> list[Sample]:
    holder = Holder(tmp_path / "wallet", stack)
    issued = [issue(stack, holder) for _ in range(2 * len(phases))]  # a pacer and a measured credential each
    eventually(lambda: all(anchored(stack, cid) for _, cid in issued), "credentials anchored", timeout=30)
    chain = Chain(stack)
    # From here on blocks come every BLOCK_TIME_S, empty ones too, as on a real network.
    assert chain.w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S]).get("error") is None
    stack.wait_synced()
    block_0, started = int(chain.w3.eth.block_number), time.perf_counter()
    out = []
    for i, phase in enumerate(phases):
        (_, pacer), (stored, cid) = issued[2 * i], issued[2 * i + 1]
        sample = Sample(cid, phase)
        measure(stack, chain, Probe(stack, stored), sample, published(stack, chain, pacer) + phase)
        breakdown(chain, sample)
        out.append(sample)
        print(f"sample {i + 1}: {describe(sample)}")
    blocks_per_s = (int(chain.w3.eth.block_number) - block_0) / (time.perf_counter() - started)
    assert 0.8 / BLOCK_TIME_S < blocks_per_s < 1.2 / BLOCK_TIME_S, blocks_per_s  # interval mining is on
    return out


def issue(stack: Stack, holder: Holder) -> tuple[Any, str]:
    stored, cid = issue_to(stack, holder, ISSUER, RESIDENT, RESIDENT_CLAIMS, copies=1)
    assert stored.sd_jwt and stored.sd_jwt_key and stored.status, stored.id
    return stored, cid


def anchored(stack: Stack, cid: str) -> bool:
    items = stack.admin_call(ISSUER, "clerk", "GET", f"/v1/credentials/{cid}/anchor").json()["items"]
    return bool(items) and all(i["root"] and i["block"] for i in items)


def describe(sample: Sample) -> str:
    steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(sample.steps.items(), key=lambda kv: kv[1]))
    interim = f"; other refusals {sample.interim}" if sample.interim else ""
    return f"phase {sample.phase} s: {sample.latency:.2f} s ({steps}; {len(sample.timeline)} probes{interim})"


def test_revocation_visible_to_syncing_verifier(benchmark, world, tmp_path):
    phases = SMOKE_PHASES_S if benchmark.disabled else PHASES_S
    measured = benchmark.pedantic(run, args=(world, tmp_path, phases), rounds=1, iterations=1)
    latencies = [s.latency for s in measured]
    worst, median = max(latencies), statistics.median(latencies)
    benchmark.extra_info.update(
        {
            "publish_interval_s": PUBLISH_INTERVAL_S,
            "block_time_s": BLOCK_TIME_S,
            "verifier_sync_s": SYNC_INTERVAL_S,
            "verifier_head_poll_s": HEAD_POLL_S,
            "probe_every_s": PROBE_EVERY_S,
            "median_s": round(median, 2),
            "worst_s": round(worst, 2),
        }
    )
    for i, s in enumerate(measured, 1):
        row: dict[str, Any] = {"phase_s": s.phase, "probes": len(s.timeline)}
        row |= {k: round(v, 2) for k, v in sorted(s.steps.items(), key=lambda kv: kv[1])}
        benchmark.extra_info[f"revocation {i}"] = row
    print(f"\nrevocation latency: worst {worst:.2f} s, median {median:.2f} s, target < {TARGET_S} s")
    what = (
        f"revocation visible to a syncing verifier (revoke call to `revoked` verdict), worst of {len(phases)}; "
        f"P={PUBLISH_INTERVAL_S} s, anvil {BLOCK_TIME_S} s blocks, verifier head poll {HEAD_POLL_S} s"
    )
    ok = record(benchmark, issue=4, what=what, value=round(worst, 2), op="<", target=TARGET_S, unit="s")
    record(
        benchmark,
        issue=4,
        what=f"revocation visible to a syncing verifier, median of {len(phases)}",
        value=round(median, 2),
        op="<",
        target=TARGET_S,
        unit="s",
        asserted=False,
        note="the budget bounds every revocation (the worst row); the median is for reading",
    )
    if not benchmark.disabled:
        assert ok, [describe(s) for s in measured]
