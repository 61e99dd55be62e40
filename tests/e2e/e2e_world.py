"""The end-to-end world: the chain, two issuers and the verifier as real processes, and a wallet.

Each part is started with its own command (``civicpass chain up``, ``civicpass issuer serve``, ``civicpass
verifier serve``) on a free loopback port, with short intervals (anchoring and status publication 1 s, trust
sync 1 s), logs captured to files under the test's temporary directory and printed when a test fails.
Every process is stopped in teardown (signal, then kill after a bounded wait), whatever happened.
The wallet is the test itself, through wallet_sdk over real HTTP; it trusts what the chain says.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from support import ROOT

from civicpass._up_layout import free_port

T = TypeVar("T")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
GRANT = "urn:civicpass:GrantEligibilityCredential:1"
ISSUERS = {  # name -> (dev account role, types accredited on chain)
    "cityhall": ("issuer", (RESIDENT,)),
    "market": ("issuer-2", (MERCHANT, GRANT)),
}
FAST = {
    "CIVICPASS_ISSUER_ANCHOR_INTERVAL": "1",
    "CIVICPASS_ISSUER_STATUS_PUBLISH_INTERVAL": "1",
    "CIVICPASS_ISSUER_ANCHOR_MAX_BACKOFF": "2",
    "CIVICPASS_VERIFIER_SYNC_INTERVAL_S": "1",
    "CIVICPASS_VERIFIER_STATUS_FETCH_TIMEOUT_S": "2",
}


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0, every: float = 0.3) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s (last: {got!r})")
        time.sleep(every)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPASS_")}
    env.update(FAST)
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process with its output in ``log``; :meth:`stop` signals, waits, then kills."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, *, cwd: Path | None = None,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.name, self.log, self.stop_signal = name, log, stop_signal
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        if self.alive():
            self.proc.send_signal(self.stop_signal)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)

    def wait_until(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                pytest.fail(f"{self.name} exited with {self.proc.returncode} while starting:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} not ready within {timeout:.0f} s:\n{self.text()[-3000:]}")
            time.sleep(0.2)


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


class Stack:
    """Chain + issuers ``cityhall`` and ``market`` + verifier, on ``engine`` and SQLite or PostgreSQL URLs."""

    def __init__(self, root: Path, *, engine: str = "embedded", db_urls: dict[str, str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.root, self.engine, self.db_urls = root, engine, db_urls or {}
        self.env = base_env() | (env or {})  # every process's environment: FAST, then the caller's overrides
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, Proc] = {}
        self.deployment = root / "deployment.json"
        self.state = root / ("anvil-state.json" if engine == "anvil" else "chain.journal")
        self.ports = {name: free_port("127.0.0.1") for name in ("chain", *ISSUERS, "verifier")}
        self.rpc_url = f"http://127.0.0.1:{self.ports['chain']}"
        self.urls = {name: f"http://127.0.0.1:{self.ports[name]}" for name in (*ISSUERS, "verifier")}
        self.tokens = {name: {"clerk": secrets.token_urlsafe(16), "operator": secrets.token_urlsafe(16)}
                       for name in ISSUERS}
        self.http = httpx.Client(timeout=30)
        self.shared: dict[str, Any] = {}  # what one test leaves for the next (they run in file order)

    # --- processes ---------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None, **kw: Any) -> Proc:
        old = self.procs.get(name)
        if old is not None and old.alive():
            old.stop()
        proc = Proc(name, [sys.executable, "-m", "civicpass", *args], env or self.env,
                    self.root / "logs" / f"{name}.log", **kw)
        self.procs[name] = proc
        return proc

    def start_chain(self) -> None:
        log = self.root / "logs" / "chain.log"
        offset = log.stat().st_size if log.exists() else 0
        proc = self._spawn("chain", ["chain", "up", "--engine", self.engine, "--port", str(self.ports["chain"]),
                                     "--state", str(self.state), "--deployment", str(self.deployment)],
                           stop_signal=signal.SIGINT)
        proc.wait_until(lambda: "Ctrl-C stops." in proc.text()[offset:])

    def stop_chain(self) -> None:
        assert self.procs["chain"].stop() == 0

    def start(self) -> Stack:
        self.start_chain()
        self.accredit()
        self.start_verifier()
        for name in ISSUERS:  # one at a time: see civicpass._up_chain.wait_until_chain_time_passed
            self.wait_chain_time_passed()
            self.start_issuer(name)
            self.procs[name].wait_until(http_ok(f"{self.urls[name]}/status-lists/1"))
        self.procs["verifier"].wait_until(http_ok(f"{self.urls['verifier']}/v1/trust"))
        self.wait_synced()
        return self

    def start_issuer(self, name: str) -> None:
        role, _ = ISSUERS[name]
        env = self.env | {
            "CIVICPASS_ISSUER_CHAIN_ACCOUNT_KEY": self.account(role)["privateKey"],
            "CIVICPASS_ISSUER_CLERK_TOKENS": json.dumps([self.tokens[name]["clerk"]]),
            "CIVICPASS_ISSUER_OPERATOR_TOKENS": json.dumps([self.tokens[name]["operator"]]),
            "CIVICPASS_ISSUER_ISSUER_NAME": f"e2e {name}",
        }
        args = ["issuer", "serve", "--port", str(self.ports[name]), "--data-dir", str(self.root / name),
                "--chain-rpc-url", self.rpc_url, "--deployment-file", str(self.deployment)]
        if name in self.db_urls:
            args += ["--database-url", self.db_urls[name]]
        self._spawn(name, args, env)

    def start_verifier(self, name: str = "verifier", env: dict[str, str] | None = None) -> None:
        """The verifier, or another one named ``name`` (its own port and data directory) with ``env`` added."""
        if name not in self.ports:
            self.ports[name] = free_port("127.0.0.1")
            self.urls[name] = f"http://127.0.0.1:{self.ports[name]}"
        args = ["verifier", "serve", "--port", str(self.ports[name]), "--data-dir", str(self.root / name),
                "--deployment-file", str(self.deployment), "--chain-rpc-url", self.rpc_url]
        if name in self.db_urls:
            args += ["--database-url", self.db_urls[name]]
        self._spawn(name, args, self.env | (env or {}))

    def close(self) -> None:
        for name in (*sorted(set(self.procs) - {*ISSUERS, "chain"}), *ISSUERS, "chain"):  # the chain last
            if name in self.procs:
                self.procs[name].stop()
        self.http.close()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} ({p.log}) =====\n{p.text()[-4000:]}" for p in self.procs.values())

    # --- chain ---------------------------------------------------------------------------------------------
    def account(self, role: str) -> dict[str, str]:
        accounts = json.loads(self.deployment.read_text())["accounts"]
        found: dict[str, str] = next(a for a in accounts if a["role"] == role)
        return found

    def web3(self) -> Any:
        from web3 import HTTPProvider, Web3

        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))

    def contracts(self) -> tuple[Any, Any]:
        """(Deployment, (TrustRegistry, AnchorRegistry, StatusRegistry))."""
        from contracts import Deployment, registries

        deployment = Deployment.load(self.deployment)
        return deployment, registries(self.web3(), deployment)

    def admin(self) -> Any:
        from contracts import Signer

        return Signer(self.web3(), self.account("admin")["privateKey"])

    def accredit(self) -> None:
        from contracts import wait_all
        from credcore.did import did_ethr

        deployment, (trust, _, _) = self.contracts()
        admin = self.admin()
        pending = []
        for name, (role, types) in ISSUERS.items():
            address = self.account(role)["address"]
            pending.append(trust.accredit_issuer(address, identifier=did_ethr(address, deployment.chain_id),
                                                 name=f"e2e {name}", credential_types=types, sender=admin))
        wait_all(pending)

    def wait_chain_time_passed(self) -> None:
        w3 = self.web3()
        eventually(lambda: int(time.time()) > int(w3.eth.get_block("latest")["timestamp"]), "chain time", 10, 0.1)

    def trust_snapshot(self) -> Any:
        """What a wallet believes: the registries' events, as a TrustSnapshot (the wallet CLI's --chain)."""
        from contracts import Deployment, TrustSync

        deployment = Deployment.load(self.deployment)
        return TrustSync(self.web3(), deployment).sync().snapshot(now=int(time.time()))

    # --- services --------------------------------------------------------------------------------------------
    def verifier_trust(self) -> dict[str, Any]:
        r = self.http.get(f"{self.urls['verifier']}/v1/trust")
        assert r.status_code == 200, r.text
        got: dict[str, Any] = r.json()
        return got

    def wait_synced(self, block: int | None = None, timeout: float = 30) -> dict[str, Any]:
        target = block if block is not None else int(self.web3().eth.block_number)
        return eventually(lambda: (t := self.verifier_trust())["block"] is not None and t["block"] >= target and t,
                          f"verifier synced to block {target}", timeout)

    def admin_call(self, issuer: str, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[issuer][role]}"}
        return self.http.request(method, f"{self.urls[issuer]}{path}", headers=headers, **kw)

    def offer(self, issuer: str, vct: str, claims: dict[str, Any]) -> dict[str, Any]:
        r = self.admin_call(issuer, "clerk", "POST", "/v1/offers", json={"vct": vct, "claims": claims})
        assert r.status_code == 201, r.text
        got: dict[str, Any] = r.json()
        return got

    def credential_ids(self, issuer: str, vct: str) -> set[str]:
        r = self.admin_call(issuer, "clerk", "GET", "/v1/credentials", params={"vct": vct, "limit": 500})
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["credentials"]}

    def verify(self, presentation: str, policy: str, **extra: Any) -> dict[str, Any]:
        r = self.http.post(f"{self.urls['verifier']}/v1/verify",
                           json={"presentation": presentation, "policy": policy, **extra})
        assert r.status_code == 200, r.text
        got: dict[str, Any] = r.json()
        return got


class Holder:
    """A wallet on disk, driven through wallet_sdk over real HTTP (what a phone app does)."""

    def __init__(self, path: Path, stack: Stack) -> None:
        from wallet_sdk import Wallet
        from wallet_sdk._seal import ScryptParams

        self.stack = stack
        self.wallet = Wallet.create(path, "e2e passphrase", kdf=ScryptParams(n=2**10))

    def accept(self, offer: dict[str, Any], *, copies: int = 4, tx_code: str | None = None) -> Any:
        from wallet_sdk import receive

        return receive(self.wallet, offer["credential_offer_uri"], tx_code=tx_code or offer["tx_code"],
                       http=self.stack.http, trust=self.stack.trust_snapshot(), now=int(time.time()), copies=copies)

    def qr(self, credential_id: str) -> Any:
        from wallet_sdk import present_offline

        return present_offline(self.wallet, credential_id, now=int(time.time()))


def issue_to(stack: Stack, holder: Holder, issuer: str, vct: str, claims: dict[str, Any], copies: int = 4
             ) -> tuple[Any, str]:
    """Offer -> wallet accepts with the PIN; returns (the wallet's record, the issuer's credential id)."""
    before = stack.credential_ids(issuer, vct)
    stored = holder.accept(stack.offer(issuer, vct, claims), copies=copies)
    (issuer_id,) = stack.credential_ids(issuer, vct) - before
    return stored, issuer_id


RESIDENT_CLAIMS = {"name": "Kim Minji", "birth_date": "1990-04-12", "city": "부산광역시", "district": "해운대구",
                   "resident_since": "2019-03-01"}
MERCHANT_CLAIMS = {"business_registration_number": "123-45-67890", "business_name": "Minji Fishcake",
                   "owner": "Kim Minji", "market": "자갈치시장", "category": "food", "district": "중구",
                   "small_business": True, "programmes": []}
GRANT_CLAIMS = {"programme_id": "busan-tm-2026", "programme_name": "Traditional market grant 2026",
                "amount_krw": 500000, "valid_until": "2027-12-31", "merchant_reference": "123-45-67890"}


def fresh_database(postgres_url: str) -> tuple[str, Callable[[], None]]:
    """A new PostgreSQL database (URL, drop function): each run starts from nothing."""
    name = f"civicpass_e2e_{secrets.token_hex(5)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False), drop


class Issued:
    """A credential issued by the clerk API: its id, SD-JWT VC and CP1 copy with their holder keys."""

    def __init__(self, stack: Stack, issuer: str = "cityhall") -> None:
        from credcore.keys import SigningKey

        self.keys = [SigningKey.generate("P-256") for _ in range(2)]
        body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": [k.public_key.to_jwk() for k in self.keys]}
        started = time.monotonic()
        r = stack.admin_call(issuer, "clerk", "POST", "/v1/credentials", json=body)
        self.elapsed = time.monotonic() - started
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        self.cp1 = r.json()["credentials"][1]["credential"]

    def qr(self, nonce: str | None = None) -> str:
        from credcore import cp1
        from credcore._b64 import b64u_decode

        return cp1.present_cp1(b64u_decode(self.cp1), holder_key=self.keys[1], now=int(time.time()), nonce=nonce)

    def verdict(self, stack: Stack, policy: str = "resident-basic") -> dict[str, Any]:
        """The verifier's answer to a fresh presentation with its own verifier nonce: asking again within the same
        time step is a new presentation, never a replay (the replay cache outlives a verifier restart)."""
        nonce = secrets.token_urlsafe(12)
        return stack.verify(self.qr(nonce), policy, nonce=nonce)


class Hung:
    """A process (the chain unless named) stopped (SIGSTOP) for the ``with`` block, resumed (SIGCONT) after,
    whatever happens."""

    def __init__(self, stack: Stack, name: str = "chain") -> None:
        self.proc = stack.procs[name].proc

    def __enter__(self) -> Hung:
        self.proc.send_signal(signal.SIGSTOP)
        return self

    def __exit__(self, *_: Any) -> None:
        self.proc.send_signal(signal.SIGCONT)
