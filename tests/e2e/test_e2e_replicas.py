"""Two issuer processes on one PostgreSQL database (issue 17): both issue; exactly one anchors and publishes
status at a time (the lease, issuer/lease.py), so no batch is anchored twice and the chain account's nonces never
collide; after SIGKILL of the active one the other takes over within 10 s and nothing is lost."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_world import ISSUERS, RESIDENT, RESIDENT_CLAIMS, Stack, eventually, fresh_database, http_ok
from sqlalchemy.engine import make_url

from civicpass._up_layout import free_port
from credcore import cp1
from credcore._b64 import b64u_decode
from credcore.keys import SigningKey

pytestmark = [pytest.mark.chain, pytest.mark.slow, pytest.mark.postgres]

HOLDS = "this process holds the lease"
TAKEOVER_BOUND = 10.0


class Balancer:
    """The load balancer in front of the replicas: a TCP proxy to the first backend that accepts a connection."""

    def __init__(self) -> None:
        self.backends: list[int] = []
        self.open: list[socket.socket] = []
        self.refusing = False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        for port in list(self.backends):
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                continue
        else:
            client.close()
            return
        upstream.settimeout(None)
        self.open += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """The backend becomes unreachable: open connections are reset, new ones closed at once."""
        self.refusing = True
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.open.clear()

    def close(self) -> None:
        self.server.close()


class ReplicaStack(Stack):
    """The e2e system with ``cityhall`` reachable (for wallets and verifiers) through a balancer."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.balancer = Balancer()
        self.balancer.backends.append(self.ports["cityhall"])

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None, **kw: Any) -> Any:
        if name.startswith("cityhall"):
            env = (env or self.env) | {"CIVICPASS_ISSUER_BASE_URL": self.balancer.url}
        return super()._spawn(name, args, env, **kw)


@pytest.fixture(scope="module")
def pg_stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaStack]:
    direct, drop = fresh_database(postgres_url)
    database = Balancer()  # between the issuers and PostgreSQL, so a test can make the database unreachable
    parsed = make_url(direct)
    database.backends.append(parsed.port or 5432)
    url = parsed.set(port=int(database.url.rsplit(":", 1)[1])).render_as_string(hide_password=False)
    s = ReplicaStack(tmp_path_factory.mktemp("replicas"), db_urls={"cityhall": url})
    s.shared["database"] = database
    try:
        s.start()
        start_replica(s, url)
        yield s
    finally:
        s.close()
        if "cityhall-b" in s.procs:
            s.procs["cityhall-b"].stop()
        s.balancer.close()
        database.close()
        drop()


def start_replica(stack: ReplicaStack, url: str) -> None:
    """A second ``cityhall`` process: same database, chain account, secrets and public URL; its own port."""
    role, _ = ISSUERS["cityhall"]
    port = free_port("127.0.0.1")
    stack.balancer.backends.append(port)
    stack.urls["cityhall-b"] = f"http://127.0.0.1:{port}"
    stack.tokens["cityhall-b"] = stack.tokens["cityhall"]
    env = stack.env | {
        "CIVICPASS_ISSUER_CHAIN_ACCOUNT_KEY": stack.account(role)["privateKey"],
        "CIVICPASS_ISSUER_CLERK_TOKENS": json.dumps([stack.tokens["cityhall"]["clerk"]]),
        "CIVICPASS_ISSUER_OPERATOR_TOKENS": json.dumps([stack.tokens["cityhall"]["operator"]]),
        "CIVICPASS_ISSUER_ISSUER_NAME": "e2e cityhall",
    }
    args = ["issuer", "serve", "--port", str(port), "--data-dir", str(stack.root / "cityhall-b"),
            "--chain-rpc-url", stack.rpc_url, "--deployment-file", str(stack.deployment), "--database-url", url]
    proc = stack._spawn("cityhall-b", args, env)
    proc.wait_until(http_ok(f"{stack.urls['cityhall-b']}/status-lists/1"))


def holders(stack: Stack) -> list[str]:
    return [name for name in ("cityhall", "cityhall-b") if HOLDS in stack.procs[name].text()]


def issue(stack: Stack, replica: str) -> tuple[str, str, SigningKey]:
    keys = [SigningKey.generate("P-256") for _ in range(2)]
    body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": [k.public_key.to_jwk() for k in keys]}
    r = stack.admin_call(replica, "clerk", "POST", "/v1/credentials", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["credentials"][1]["credential"], keys[1]


def anchored_all(stack: Stack, replica: str, ids: list[str]) -> bool:
    for cid in ids:
        items = stack.admin_call(replica, "clerk", "GET", f"/v1/credentials/{cid}/anchor").json()["items"]
        if not items or not all(i["root"] and i["block"] for i in items):
            return False
    return True


def verdict(stack: Stack, cp1_text: str, key: SigningKey) -> dict:
    qr = cp1.present_cp1(b64u_decode(cp1_text), holder_key=key, now=int(time.time()))
    return stack.verify(qr, "resident-basic")


def chain_failures(stack: Stack) -> list[str]:
    pattern = re.compile(r"(anchoring batch|publishing status list|closing key window).*failed")
    return [line for name in ("cityhall", "cityhall-b") for line in stack.procs[name].text().splitlines()
            if pattern.search(line)]


def test_two_issuers_share_the_work_and_the_survivor_takes_over_after_sigkill(pg_stack):
    stack = pg_stack
    eventually(lambda: len(holders(stack)) == 1, "one replica holds the lease", 10)
    issued: list[tuple[str, str, SigningKey]] = []
    lock = threading.Lock()

    def burst(replica: str) -> None:
        for _ in range(15):
            got = issue(stack, replica)
            with lock:
                issued.append(got)

    threads = [threading.Thread(target=burst, args=(name,)) for name in ("cityhall", "cityhall-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 30
    ids = [cid for cid, _, _ in issued]
    eventually(lambda: anchored_all(stack, "cityhall", ids), "everything anchored", 30)

    # Exactly one process anchored: every root on chain once, and no chain send failed (no nonce collision).
    _, (_, anchors, _) = stack.contracts()
    roots = {item["root"] for cid in ids
             for item in stack.admin_call("cityhall", "clerk", "GET", f"/v1/credentials/{cid}/anchor").json()["items"]}
    assert all(anchors.anchor_of(bytes.fromhex(r[2:])) is not None for r in roots)
    assert chain_failures(stack) == []
    assert len(holders(stack)) == 1

    # SIGKILL the active one in the middle of issuing; the other takes over within the bound, nothing lost.
    (active,) = holders(stack)
    survivor = "cityhall-b" if active == "cityhall" else "cityhall"
    more = [issue(stack, active) for _ in range(5)]
    stack.procs[active].proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    stack.procs[active].proc.wait(timeout=10)
    more += [issue(stack, survivor) for _ in range(5)]
    eventually(lambda: HOLDS in stack.procs[survivor].text(), "the survivor takes the lease", TAKEOVER_BOUND)
    assert time.monotonic() - killed_at < TAKEOVER_BOUND
    revoked_id, revoked_cp1, revoked_key = more[0]
    r = stack.admin_call(survivor, "operator", "POST", f"/v1/credentials/{revoked_id}/revoke")
    assert r.status_code == 200, r.text
    all_ids = ids + [cid for cid, _, _ in more]
    eventually(lambda: anchored_all(stack, survivor, all_ids), "everything anchored after the takeover", 30)
    stack.wait_synced()
    eventually(lambda: verdict(stack, revoked_cp1, revoked_key).get("code") == "revoked", "revocation published", 30)
    for cid, text, key in issued + more[1:]:
        assert verdict(stack, text, key)["verified"] is True, cid
    assert chain_failures(stack) == []


def test_postgresql_unreachable_gives_503_then_everything_resumes_with_nothing_lost(pg_stack):
    stack = pg_stack
    database: Balancer = stack.shared["database"]
    alive = [name for name in ("cityhall", "cityhall-b") if stack.procs[name].alive()]
    before = [issue(stack, name) for name in alive]
    database.cut()
    try:
        keys = [SigningKey.generate("P-256").public_key.to_jwk() for _ in range(2)]
        for name in alive:
            started = time.monotonic()
            r = stack.admin_call(name, "clerk", "POST", "/v1/credentials",
                                 json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": keys})
            assert r.status_code == 503, r.text
            assert time.monotonic() - started < 5
            assert stack.http.get(f"{stack.urls[name]}/healthz").status_code == 200
        time.sleep(3)  # workers meet the outage too (and the lease's session is gone)
    finally:
        database.refusing = False
    after = eventually(lambda: _issue_or_none(stack, alive[0]), "issuance once the database is back", 30)
    ids = [cid for cid, _, _ in (*before, after)]
    eventually(lambda: anchored_all(stack, alive[0], ids), "everything anchored after the outage", 30)
    stack.wait_synced()
    for cid, text, key in (*before, after):
        assert verdict(stack, text, key)["verified"] is True, cid


def _issue_or_none(stack: Stack, replica: str) -> tuple[str, str, SigningKey] | None:
    try:
        return issue(stack, replica)
    except AssertionError:
        return None
