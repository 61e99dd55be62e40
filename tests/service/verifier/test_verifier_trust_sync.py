"""Trust sync against a real chain (the embedded JSON-RPC chain) and a real HTTP status-list server.

One module-scoped chain with the registries deployed and one issuer accredited; each test publishes its own
status list (its own list id) so tests stay independent. Covers: a good list accepted and used, a list
whose digest does not match the chain rejected, a list signed by an unregistered key rejected, the chain
going away mid-run (the snapshot keeps serving, then turns stale) and at start-up (the persisted snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from verifier_world import RESIDENT_CLAIMS, TestClient

from contracts import Deployment, Signer, StatusRegistry, TrustRegistry, TrustSync, deploy_all, status_list_digest
from credcore.cp1 import issue_cp1, present_cp1
from credcore.did import did_ethr
from credcore.keys import SigningKey
from credcore.status_list import Status, StatusList, sign_status_list_jwt
from verifier.api.app import create_app
from verifier.settings import VerifierSettings
from verifier.trust_sync import TrustKeeper

pytestmark = [pytest.mark.chain, pytest.mark.slow]
RESIDENT = "urn:civicpass:ResidentCredential:1"


class WallClock:
    """Wall time plus an offset a test can move forward (the chain stamps blocks with wall time)."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset


class ListServer:
    """Serves status list JWTs at /status-lists/<id>, whatever the test puts in ``tokens``."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = tokens.get(self.path)
                self.send_response(200 if token else 404)
                self.send_header("content-type", "application/statuslist+jwt")
                self.end_headers()
                self.wfile.write((token or "").encode("ascii"))

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Chain:
    running: object
    w3: object
    deployment: Deployment
    issuer: Signer
    issuer_id: str
    key: SigningKey
    lists: ListServer
    list_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def publish(self, status_list: StatusList, *, list_id: int, version: int, signer: SigningKey | None = None,
                serve: str | None = None) -> str:
        """Sign and publish a list version; serve ``serve`` instead of the real token when given."""
        uri = f"{self.lists.base}/status-lists/{list_id}"
        token = sign_status_list_jwt(status_list, uri=uri, signer=signer or self.key, iat=int(time.time()))
        self.anchor(token, list_id=list_id, version=version, serve=serve)
        return token

    def anchor(self, token: str, *, list_id: int, version: int, serve: str | None = None) -> None:
        # Served before its digest lands, as the issuer does (issuer.status_publisher): a verifier that follows
        # new blocks closely must not find the digest before the list.
        uri = f"{self.lists.base}/status-lists/{list_id}"
        self.lists.tokens[f"/status-lists/{list_id}"] = serve or token
        StatusRegistry(self.w3, self.deployment.status_registry).publish(
            list_id, version, status_list_digest(token), uri, sender=self.issuer).wait()


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Iterator[Chain]:
    from web3 import HTTPProvider, Web3

    from chain_local import start_embedded

    running = start_embedded(port=0)
    w3 = Web3(HTTPProvider(running.url))
    admin, issuer_acct = (Signer(w3, a.private_key) for a in running.accounts[:2])
    deployment = deploy_all(w3, admin, rpc_url=running.url)
    issuer_id = did_ethr(issuer_acct.address, running.chain_id)
    registry = TrustRegistry(w3, deployment.trust_registry)
    registry.accredit_issuer(issuer_acct.address, identifier=issuer_id, name="Test City", credential_types=[RESIDENT],
                             sender=admin).wait()
    key = SigningKey.generate()
    registry.add_key(key.public_key, sender=issuer_acct).wait()  # valid from its block time
    # The embedded chain gives each block a later second than the last, so a burst of deploy blocks can run
    # a little ahead of the wall clock: wait until what is signed from now on is inside the key's window.
    while time.time() <= w3.eth.get_block("latest")["timestamp"]:
        time.sleep(0.1)
    lists = ListServer()
    try:
        yield Chain(running, w3, deployment, issuer_acct, issuer_id, key, lists)
    finally:
        lists.close()
        running.stop()


def keeper_for(chain: Chain, tmp_path, clock: WallClock, rpc_url: str | None = None, **kw) -> TrustKeeper:
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(rpc_url or chain.running.url, request_kwargs={"timeout": 2}))
    return TrustKeeper(snapshot_path=tmp_path / "snap.json", clock=clock, sync=TrustSync(w3, chain.deployment),
                       http=httpx.Client(timeout=2), **kw)


def cp1_text(chain: Chain, holder: SigningKey, list_id: int, idx: int, now: int) -> str:
    cred = issue_cp1(RESIDENT_CLAIMS, profile="resident-basic", signer=chain.key, holder_key=holder.public_key,
                     status_list_id=list_id, status_index=idx, iat=now, exp=now + 3600)
    return present_cp1(cred, holder_key=holder, now=now)


def verify(client: TestClient, text: str, policy: str = "resident-basic") -> dict:
    r = client.post("/v1/verify", json={"presentation": text, "policy": policy})
    assert r.status_code == 200, r.text
    return r.json()


def app_for(tmp_path, clock, trust) -> TestClient:
    settings = VerifierSettings(environment="test", data_dir=tmp_path, max_snapshot_age_s=600)
    return TestClient(create_app(settings, clock=clock, trust=trust))


def test_synced_snapshot_verifies_and_follows_revocations(chain, tmp_path):
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper = keeper_for(chain, tmp_path, clock)
    report = keeper.sync_once()
    assert report.ok and report.accepted == 1 and not report.rejected
    snap = keeper.current()
    assert snap.issuer(chain.issuer_id) is not None and snap.block_number == report.block
    client = app_for(tmp_path, clock, keeper)
    body = verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))
    assert body["verified"] is True and body["trust"]["block"] == report.block

    chain.publish(StatusList.empty(64).set(5, Status.INVALID), list_id=list_id, version=2)
    assert keeper.sync_once().accepted == 1
    clock.offset += 31  # next time step, so the replay cache does not answer first
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "revoked"


def test_a_new_block_starts_a_round_without_waiting_for_the_interval(chain, tmp_path):
    clock, list_id = WallClock(), next(chain.list_ids)
    keeper = keeper_for(chain, tmp_path, clock)

    async def follow() -> float:
        task = asyncio.create_task(keeper.run(3600, head_poll=0.05))  # no full round due for an hour
        try:
            while keeper.last_report is None:
                await asyncio.sleep(0.02)
            assert not keeper.head_moved()
            await asyncio.to_thread(chain.publish, StatusList.empty(64).set(3, Status.INVALID), list_id=list_id,
                                    version=1)
            published = time.monotonic()
            while keeper.current().status_list_by_id(chain.issuer_id, list_id) is None:
                assert time.monotonic() - published < 5, "the new block was not picked up"
                await asyncio.sleep(0.02)
            return time.monotonic() - published
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    assert asyncio.run(follow()) < 2


def test_head_probe_is_quiet_when_the_chain_is_down(chain, tmp_path):
    keeper = keeper_for(chain, tmp_path, WallClock(), rpc_url="http://127.0.0.1:9/")
    assert keeper.head_moved() is False
    assert TrustKeeper(snapshot_path=tmp_path / "s.json", clock=WallClock()).head_moved() is False


def test_list_whose_digest_does_not_match_the_chain_is_rejected(chain, tmp_path):
    clock, list_id = WallClock(), next(chain.list_ids)
    forged = sign_status_list_jwt(StatusList.empty(64), uri=f"{chain.lists.base}/status-lists/{list_id}",
                                  signer=chain.key, iat=int(time.time()))
    chain.publish(StatusList.empty(64).set(3, Status.INVALID), list_id=list_id, version=1, serve=forged)
    keeper = keeper_for(chain, tmp_path, clock)
    report = keeper.sync_once()
    assert (f"{chain.lists.base}/status-lists/{list_id}", "digest_mismatch") in report.rejected
    client = app_for(tmp_path, clock, keeper)
    assert verify(client, cp1_text(chain, SigningKey.generate(), list_id, 3, clock.now()))["code"] == "status_unknown"
    client.app.state.parts.keeper = keeper  # /v1/trust reports the rejection to the operator
    rejected = client.get("/v1/trust").json()["last_sync"]["rejected"]
    assert {"uri": f"{chain.lists.base}/status-lists/{list_id}", "reason": "digest_mismatch"} in rejected


def test_a_digest_that_landed_before_the_issuer_serves_its_list_at_the_uri_is_found_at_latest(chain, tmp_path):
    # The issuer serves the list it anchors at /latest before sending its digest, and at the URI once the receipt
    # is in: a verifier that syncs in between takes it from /latest (the chain's digest decides, not the URL).
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    old = chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper = keeper_for(chain, tmp_path, clock)
    assert keeper.sync_once().ok
    new = chain.publish(StatusList.empty(64).set(5, Status.INVALID), list_id=list_id, version=2, serve=old)
    chain.lists.tokens[f"/status-lists/{list_id}/latest"] = new
    report = keeper.sync_once()
    assert report.accepted == 1 and not [r for r in report.rejected if r[0].endswith(f"/{list_id}")]
    assert keeper.current().status_list_by_id(chain.issuer_id, list_id).version == 2
    client = app_for(tmp_path, clock, keeper)
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "revoked"


def test_a_list_the_issuer_serves_nowhere_yet_keeps_the_previous_one_for_the_grace_then_fails_closed(chain, tmp_path):
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    old = chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper = keeper_for(chain, tmp_path, clock, status_list_grace_s=60)
    keeper.sync_once()
    chain.publish(StatusList.empty(64).set(5, Status.INVALID), list_id=list_id, version=2, serve=old)
    assert (f"{chain.lists.base}/status-lists/{list_id}", "digest_mismatch") in keeper.sync_once().rejected
    client = app_for(tmp_path, clock, keeper)
    assert verify(client, cp1_text(chain, holder, list_id, 1, clock.now()))["verified"] is True  # v1 still in use
    clock.offset += 61
    keeper.sync_once()
    assert verify(client, cp1_text(chain, holder, list_id, 2, clock.now()))["code"] == "status_unknown"


def test_a_verifier_restarted_while_the_chain_is_down_polls_and_keeps_what_it_applied(chain, tmp_path):
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper_for(chain, tmp_path, clock).sync_once()  # persists to tmp_path/snap.json
    uri = f"{chain.lists.base}/status-lists/{list_id}"
    chain.lists.tokens[f"/status-lists/{list_id}/latest"] = sign_status_list_jwt(
        StatusList.empty(64).set(5, Status.INVALID), uri=uri, signer=chain.key, iat=int(time.time()) + 1)
    restarted = keeper_for(chain, tmp_path, clock, rpc_url="http://127.0.0.1:9")  # from the file, no chain
    assert restarted.sync_once().error == "chain_unavailable"
    assert restarted.poll_status_lists() == 1
    client = app_for(tmp_path, clock, restarted)
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "revoked"
    offline = TrustKeeper(snapshot_path=tmp_path / "snap.json", clock=clock)  # and again, with no network at all
    clock.offset += 31
    body = verify(app_for(tmp_path, clock, offline), cp1_text(chain, holder, list_id, 5, clock.now()))
    assert body["code"] == "revoked"


def test_list_signed_by_an_unregistered_key_is_rejected(chain, tmp_path):
    clock, list_id = WallClock(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1, signer=SigningKey.generate())
    report = keeper_for(chain, tmp_path, clock).sync_once()
    assert (f"{chain.lists.base}/status-lists/{list_id}", "unknown_key") in report.rejected


def test_chain_unreachable_mid_run_keeps_serving_then_turns_stale(chain, tmp_path):
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper = keeper_for(chain, tmp_path, clock)
    assert keeper.sync_once().ok
    dead = keeper_for(chain, tmp_path, clock, rpc_url="http://127.0.0.1:9")  # nothing listens on port 9
    dead._snap = keeper.current()  # the same process, now cut off from the chain
    report = dead.sync_once()
    assert (report.ok, report.error) == (False, "chain_unavailable")
    client = app_for(tmp_path, clock, dead)
    assert verify(client, cp1_text(chain, holder, list_id, 1, clock.now()))["verified"] is True
    clock.offset += 601
    body = verify(client, cp1_text(chain, holder, list_id, 2, clock.now()))
    assert body["trust"]["stale"] is True and body["policy"]["code"] == "trust_stale"
    assert verify(client, cp1_text(chain, holder, list_id, 3, clock.now()), "age-over-19")["verified"] is True


def test_chain_unreachable_at_start_up_serves_the_persisted_snapshot(chain, tmp_path):
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    block = keeper_for(chain, tmp_path, clock).sync_once().block  # persists to tmp_path/snap.json
    deployment_file = tmp_path / "deployment.json"
    chain.deployment.save(deployment_file)
    settings = VerifierSettings(environment="test", data_dir=tmp_path, snapshot_file=tmp_path / "snap.json",
                                chain_rpc_url="http://127.0.0.1:9", deployment_file=deployment_file)
    with TestClient(create_app(settings, clock=clock)) as client:  # lifespan starts the (failing) sync loop
        body = verify(client, cp1_text(chain, holder, list_id, 1, clock.now()))
        assert body["verified"] is True and body["trust"]["block"] == block


def latest(chain: Chain, list_id: int, status_list: StatusList, iat: int) -> str:
    """The issuer's newest signed list at ``<uri>/latest``, not on chain (the chain is down meanwhile)."""
    uri = f"{chain.lists.base}/status-lists/{list_id}"
    token = sign_status_list_jwt(status_list, uri=uri, signer=chain.key, iat=iat)
    chain.lists.tokens[f"/status-lists/{list_id}/latest"] = token
    return token


def test_a_status_made_stricter_ahead_of_the_chain_is_relaxed_only_by_the_chain(chain, tmp_path):
    # Suspended from the issuer's newest list, then a newer one reinstates it (and revokes another) while the
    # chain still holds neither: the suspension stays until the chain's digest says otherwise.
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    keeper = keeper_for(chain, tmp_path, clock)
    assert keeper.sync_once().ok
    client = app_for(tmp_path, clock, keeper)
    now = int(time.time())
    latest(chain, list_id, StatusList.empty(64).set(5, Status.SUSPENDED), now + 1)
    keeper.poll_status_lists()
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "suspended"
    reinstating = latest(chain, list_id, StatusList.empty(64).set(6, Status.INVALID), now + 2)
    keeper.poll_status_lists()
    clock.offset += 31
    assert verify(client, cp1_text(chain, holder, list_id, 6, clock.now()))["code"] == "revoked"
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "suspended"
    assert keeper.sync_once().ok  # the chain has not moved: still nothing relaxes
    clock.offset += 31
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "suspended"

    chain.anchor(reinstating, list_id=list_id, version=2)  # the chain confirms the issuer's newest list
    assert keeper.sync_once().ok
    clock.offset += 31
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["verified"] is True
    assert verify(client, cp1_text(chain, holder, list_id, 6, clock.now()))["code"] == "revoked"


def test_a_restarted_verifier_keeps_what_it_applied_when_the_chain_answers_before_the_issuer(chain, tmp_path):
    # Applied during an outage and saved; restarted; the chain answers (still without the revocation's digest)
    # before the issuer's newest list is polled again: the revocation holds from the first round.
    clock, holder, list_id = WallClock(), SigningKey.generate(), next(chain.list_ids)
    chain.publish(StatusList.empty(64), list_id=list_id, version=1)
    first = keeper_for(chain, tmp_path, clock)
    assert first.sync_once().ok
    now = int(time.time())
    latest(chain, list_id, StatusList.empty(64).set(5, Status.INVALID), now + 1)
    first.poll_status_lists()
    chain.lists.tokens.pop(f"/status-lists/{list_id}/latest")  # the issuer is out of reach from now on

    restarted = keeper_for(chain, tmp_path, clock)
    assert restarted.sync_once().ok
    client = app_for(tmp_path, clock, restarted)
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["code"] == "revoked"
    assert verify(client, cp1_text(chain, holder, list_id, 4, clock.now()))["verified"] is True

    uri = f"{chain.lists.base}/status-lists/{list_id}"
    reinstating = sign_status_list_jwt(StatusList.empty(64), uri=uri, signer=chain.key, iat=now + 2)
    chain.anchor(reinstating, list_id=list_id, version=2)  # the chain's word relaxes it
    assert restarted.sync_once().ok
    clock.offset += 31
    assert verify(client, cp1_text(chain, holder, list_id, 5, clock.now()))["verified"] is True
