"""Fault injection on real processes (issue 13): the chain hung (SIGSTOP) during issuance, key rotation and
revocation, then resumed (SIGCONT); the verifier restarted while the chain hangs; status changes published while
a verifier watches; the issuer and the verifier killed with SIGKILL and restarted; a verifier's Redis replay cache
hung, killed and back.

What must hold throughout: no 5xx but a documented 503, nothing answering slower than its bound while the chain
hangs (issuance, health, metadata, status lists under 1 s; a rotation's 503 within the chain timeout), and no
credential lost or stranded: whatever was issued verifies at the verifier once the chain is back.
The tests share one system (embedded chain, SQLite) and run in file order.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_world import Hung, Issued, Proc, Stack, eventually, http_ok
from support import port_open, require

from civicpass._up_layout import free_port

pytestmark = [pytest.mark.chain, pytest.mark.slow]

READ_TIMEOUT = 2.0
FAULTS = {
    "CIVICPASS_ISSUER_CHAIN_CONNECT_TIMEOUT": "1",
    "CIVICPASS_ISSUER_CHAIN_READ_TIMEOUT": str(READ_TIMEOUT),
    "CIVICPASS_VERIFIER_CHAIN_CONNECT_TIMEOUT_S": "1",
    "CIVICPASS_VERIFIER_CHAIN_READ_TIMEOUT_S": str(READ_TIMEOUT),
}
#: While the chain hangs, these must answer within this (seconds).
FAST_ANSWER = 1.0
#: A revocation reaches the verifier within its status poll interval (default 5 s) while the chain is down.
STATUS_POLL_BOUND = 10.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("faults"), env=FAULTS)
    try:
        yield s.start()
    finally:
        chain = s.procs.get("chain")
        if chain is not None and chain.alive():
            chain.proc.send_signal(signal.SIGCONT)  # a stopped process ignores SIGINT
        s.close()


def timed_get(stack: Stack, url: str) -> tuple[int, float]:
    started = time.monotonic()
    r = stack.http.get(url)
    return r.status_code, time.monotonic() - started


def verified(stack: Stack, issued: Issued) -> bool:
    verdict = issued.verdict(stack)
    return bool(verdict["verified"])


def test_a_hung_chain_stalls_neither_issuance_nor_health_and_rotation_answers_503(stack):
    before = Issued(stack)
    issuer = stack.urls["cityhall"]
    during: list[Issued] = []
    rotation: dict[str, Any] = {}

    def rotate() -> None:
        started = time.monotonic()
        r = stack.admin_call("cityhall", "operator", "POST", "/v1/keys/rotate")
        rotation.update(status=r.status_code, body=r.json(), elapsed=time.monotonic() - started)

    with Hung(stack):
        time.sleep(0.5)  # let the worker get stuck in a chain call
        rotator = threading.Thread(target=rotate)
        rotator.start()
        deadline = time.monotonic() + 2 * READ_TIMEOUT + 2
        slow: list[tuple[str, float]] = []
        while time.monotonic() < deadline:
            issued = Issued(stack)
            during.append(issued)
            slow += [("issue", issued.elapsed)] if issued.elapsed > FAST_ANSWER else []
            for path in ("/healthz", "/.well-known/openid-credential-issuer", "/status-lists/1"):
                status, elapsed = timed_get(stack, issuer + path)
                assert status == 200, (path, status)
                slow += [(path, elapsed)] if elapsed > FAST_ANSWER else []
        rotator.join(timeout=30)
        assert slow == [], slow
    assert rotation["status"] == 503 and rotation["body"]["code"] == "chain_unavailable", rotation
    assert rotation["elapsed"] < 3 * READ_TIMEOUT, rotation

    # Chain back: everything issued during the hang is anchored and verifies; a rotation goes through once the
    # issuer reports the chain ready. Its 503 is retryable, as an operator would: right after SIGCONT the chain may
    # still be answering what queued up while it hung.
    eventually(lambda: stack.http.get(f"{issuer}/readyz", timeout=10).status_code == 200, "issuer ready again", 30)
    eventually(lambda: rotated_once_the_chain_is_back(stack), "a rotation once the chain is back", 30, every=1.0)
    after = Issued(stack)
    stack.wait_synced()
    for issued in (before, *during, after):
        eventually(lambda issued=issued: verified(stack, issued), f"credential {issued.id} verifies", 30)
    stack.shared["issued"] = [before, *during, after]


def rotated_once_the_chain_is_back(stack: Stack) -> bool:
    r = stack.admin_call("cityhall", "operator", "POST", "/v1/keys/rotate")
    if r.status_code == 503:
        assert r.json()["code"] == "chain_unavailable", r.text
        return False
    assert r.status_code == 201, r.text
    return True


def verdict_code(stack: Stack, issued: Issued) -> str | None:
    verdict = issued.verdict(stack)
    return None if verdict["verified"] else str(verdict.get("code"))


def test_a_revocation_during_a_chain_outage_is_enforced_and_a_reinstatement_waits_for_the_chain(stack):
    revoked, reinstated = Issued(stack), Issued(stack)
    r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{reinstated.id}/suspend")
    assert r.status_code == 200, r.text
    stack.wait_synced()
    eventually(lambda: verdict_code(stack, reinstated) == "suspended", "suspension seen through the chain", 30)
    eventually(lambda: verdict_code(stack, revoked) is None, "credential verifies", 30)

    with Hung(stack):
        started = time.monotonic()
        r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{revoked.id}/revoke")
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < FAST_ANSWER
        r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{reinstated.id}/reinstate")
        assert r.status_code == 200, r.text
        eventually(lambda: verdict_code(stack, revoked) == "revoked", "revocation enforced without the chain",
                   timeout=STATUS_POLL_BOUND, every=0.2)
        stack.shared["revocation_latency_s"] = time.monotonic() - started
        # Relaxing a status needs the chain's digest: the reinstated credential stays suspended meanwhile.
        time.sleep(2)
        assert verdict_code(stack, reinstated) == "suspended"

    eventually(lambda: verdict_code(stack, reinstated) is None, "reinstatement once the chain has it", 30)
    assert verdict_code(stack, revoked) == "revoked"


def restart_verifier(stack: Stack) -> None:
    stack.procs["verifier"].proc.send_signal(signal.SIGKILL)
    stack.procs["verifier"].proc.wait(timeout=10)
    stack.start_verifier()
    stack.procs["verifier"].wait_until(http_ok(f"{stack.urls['verifier']}/v1/trust"))


def test_a_verifier_restarted_during_a_chain_outage_enforces_a_revocation_signed_meanwhile(stack):
    kept, revoked = Issued(stack), Issued(stack)
    stack.wait_synced()
    for one in (kept, revoked):
        eventually(lambda one=one: verdict_code(stack, one) is None, f"credential {one.id} verifies", 30)

    with Hung(stack):
        restart_verifier(stack)  # from its snapshot file: the chain does not answer
        started = time.monotonic()
        r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{revoked.id}/revoke")
        assert r.status_code == 200, r.text
        eventually(lambda: verdict_code(stack, revoked) == "revoked", "revocation enforced after the restart",
                   timeout=STATUS_POLL_BOUND, every=0.2)
        assert time.monotonic() - started < STATUS_POLL_BOUND
        assert verdict_code(stack, kept) is None
        # What it applied is on disk: restarted again with the issuer hung too, it refuses from its first answer.
        with Hung(stack, "cityhall"):
            restart_verifier(stack)
            assert verdict_code(stack, revoked) == "revoked"
            assert verdict_code(stack, kept) is None

    eventually(lambda: stack.http.get(f"{stack.urls['cityhall']}/readyz", timeout=10).status_code == 200,
               "issuer ready again", 30)
    stack.wait_synced()
    assert verdict_code(stack, revoked) == "revoked"
    eventually(lambda: verdict_code(stack, kept) is None, "the other credential verifies once the chain is back", 30)


def test_a_verifier_never_answers_status_unknown_while_status_changes_are_published(stack):
    # The issuer serves the list it anchors at /latest before sending its digest, and the verifier looks there
    # when the list URI still serves the previous one: no moment where the chain's list is found nowhere.
    watched, changing = Issued(stack), Issued(stack)
    stack.wait_synced()
    eventually(lambda: verdict_code(stack, watched) is None, "credential verifies", 30)
    codes: list[str | None] = []
    for action in ("suspend", "reinstate") * 4:
        r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{changing.id}/{action}")
        assert r.status_code == 200, r.text
        block = int(stack.web3().eth.block_number)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            codes.append(verdict_code(stack, watched))
            if int(stack.web3().eth.block_number) > block and stack.verifier_trust()["block"] > block:
                break  # published and read: the next change
            time.sleep(0.05)
    assert "status_unknown" not in codes, codes
    assert set(codes) == {None}, codes


def test_sigkill_of_the_issuer_loses_no_credential_and_no_revocation(stack):
    issued = [Issued(stack) for _ in range(6)]
    r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{issued[0].id}/revoke")
    assert r.status_code == 200, r.text
    stack.procs["cityhall"].proc.send_signal(signal.SIGKILL)  # right after: nothing anchored or published yet
    stack.procs["cityhall"].proc.wait(timeout=10)
    stack.start_issuer("cityhall")
    stack.procs["cityhall"].wait_until(http_ok(f"{stack.urls['cityhall']}/status-lists/1"))
    for one in issued:
        assert stack.admin_call("cityhall", "clerk", "GET", f"/v1/credentials/{one.id}").status_code == 200
    eventually(lambda: verdict_code(stack, issued[0]) == "revoked", "the revocation published after restart", 30)
    for one in issued[1:]:
        eventually(lambda one=one: verified(stack, one), f"credential {one.id} verifies", 30)


def test_sigkill_of_the_verifier_then_it_verifies_again_from_where_it_was(stack):
    issued = Issued(stack)
    eventually(lambda: verified(stack, issued), "credential verifies", 30)
    stack.procs["verifier"].proc.send_signal(signal.SIGKILL)
    stack.procs["verifier"].proc.wait(timeout=10)
    stack.start_verifier()
    stack.procs["verifier"].wait_until(http_ok(f"{stack.urls['verifier']}/v1/trust"))
    assert verified(stack, issued)  # the persisted snapshot serves at once
    for earlier in stack.shared.get("issued", []):
        assert verified(stack, earlier)


#: The verifier gives Redis this long to answer (verifier.api.app), then answers 503.
REDIS_TIMEOUT = 2.0


class OwnRedis:
    """A redis-server of the test's own on a free port (never the machine's shared one), writing every command to
    its append-only file so that what it held survives a kill."""

    def __init__(self, root: Path) -> None:
        self.port = free_port("127.0.0.1")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "yes", "--appendfsync", "always", "--dir", str(root)]
        self.log = root / "redis.log"
        self.start()

    def start(self) -> None:
        self.proc = Proc("redis", self.argv, {}, self.log)
        self.proc.wait_until(lambda: port_open("127.0.0.1", self.port), timeout=15)

    def kill(self) -> None:
        self.proc.proc.send_signal(signal.SIGKILL)
        self.proc.proc.wait(timeout=10)

    def close(self) -> None:
        self.proc.proc.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
        self.proc.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    require(shutil.which("redis-server") is not None, "redis-server")
    redis = OwnRedis(tmp_path)
    try:
        yield redis
    finally:
        redis.close()


def verify_on(stack: Stack, name: str, presentation: str, nonce: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    r = stack.http.post(f"{stack.urls[name]}/v1/verify",
                        json={"presentation": presentation, "policy": "resident-basic", "nonce": nonce})
    return r.status_code, r.json(), time.monotonic() - started


def test_redis_hung_or_down_answers_503_never_500_nor_a_replay_then_verification_resumes(stack, own_redis):
    stack.start_verifier("verifier-redis", {"CIVICPASS_VERIFIER_REPLAY_BACKEND": "redis",
                                            "CIVICPASS_VERIFIER_REDIS_URL": own_redis.url})
    stack.procs["verifier-redis"].wait_until(http_ok(f"{stack.urls['verifier-redis']}/v1/trust"))
    issued = Issued(stack)
    stack.wait_synced()

    def fresh() -> tuple[int, dict[str, Any], float]:
        nonce = secrets.token_urlsafe(12)
        return verify_on(stack, "verifier-redis", issued.qr(nonce), nonce)

    eventually(lambda: fresh()[1].get("verified"), "verifies on Redis", 30)
    nonce = secrets.token_urlsafe(12)
    shown = issued.qr(nonce)
    assert verify_on(stack, "verifier-redis", shown, nonce)[1]["verified"] is True

    def unavailable(got: tuple[int, dict[str, Any], float], bound: float) -> None:
        status, body, elapsed = got
        assert (status, body["code"]) == (503, "infrastructure_unavailable"), (status, body)
        assert elapsed < bound, elapsed

    own_redis.proc.proc.send_signal(signal.SIGSTOP)  # hung: connections open, no answers
    try:
        for _ in range(2):
            unavailable(fresh(), REDIS_TIMEOUT + FAST_ANSWER)
            unavailable(verify_on(stack, "verifier-redis", shown, nonce), REDIS_TIMEOUT + FAST_ANSWER)  # no replay
    finally:
        own_redis.proc.proc.send_signal(signal.SIGCONT)
    own_redis.kill()  # down: connections refused
    for _ in range(3):
        unavailable(fresh(), FAST_ANSWER)
        unavailable(verify_on(stack, "verifier-redis", shown, nonce), FAST_ANSWER)

    own_redis.start()
    eventually(lambda: fresh()[1].get("verified"), "verifies once Redis is back", 10)
    status, body, _ = verify_on(stack, "verifier-redis", shown, nonce)  # what Redis held survived its kill
    assert status == 200 and body["verified"] is False, body
