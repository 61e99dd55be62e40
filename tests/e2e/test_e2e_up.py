"""``civicpass up`` as a newcomer runs it: a subprocess that gets ready, serves the URLs it prints, fills the
demo wallets, logs one JSON line per request without secrets, stops cleanly on Ctrl-C, and continues from
its saved state when started again."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2e_world import RESIDENT, RESIDENT_CLAIMS, Proc, base_env

from civicpass.up_cmd import READY_LINE

pytestmark = [pytest.mark.chain, pytest.mark.slow]
READY_TIMEOUT_S, STOP_WITHIN_S = 240.0, 20.0


def start_up(tmp_path: Path, *extra: str) -> Proc:
    argv = [sys.executable, "-m", "civicpass", "up", "--data-dir", "state", *extra]
    proc = Proc("up", argv, base_env(), tmp_path / f"up-{time.monotonic_ns()}.log", cwd=tmp_path,
                stop_signal=signal.SIGINT)
    try:
        proc.wait_until(lambda: READY_LINE in proc.text(), timeout=READY_TIMEOUT_S)
    except BaseException:
        proc.stop()
        raise
    return proc


def printed(text: str, label: str) -> str:
    found = re.search(rf"^\s+{label}\s+(\S+)", text, re.MULTILINE)
    assert found, f"{label!r} not printed:\n{text}"
    return found.group(1)


def interrupt(proc: Proc) -> None:
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(timeout=STOP_WITHIN_S) == 0, proc.text()[-3000:]
    assert time.monotonic() - started < STOP_WITHIN_S
    assert "civicpass up: stopped" in proc.text()


def test_up_serves_its_urls_stops_on_ctrl_c_and_continues(tmp_path):
    ports = ["--chain-port", "0", "--issuer-port", "0", "--market-port", "0", "--verifier-port", "0",
             "--wallet-port", "0"]
    first = start_up(tmp_path, "--demo", *ports)
    try:
        text = first.text()
        issuer, counter = printed(text, "issuer admin API"), printed(text, "counter page")
        rpc = printed(text, "chain RPC")
        secrets_path = Path(printed(text, "dev admin tokens"))
        assert stat.S_IMODE(secrets_path.stat().st_mode) == 0o600
        secrets = json.loads(secrets_path.read_text())
        clerk = secrets["issuers"]["cityhall"]["clerk_token"]
        assert secrets["issuers"]["cityhall"]["url"] + "/v1" == issuer

        page = httpx.get(counter, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        desk = printed(text, "desk")
        person = secrets["issuers"]["cityhall"]["desk"]["clerk"]
        with httpx.Client(timeout=30) as browser:  # the dev clerk can sign in to the desk
            r = browser.post(f"{desk}/signin", data={"username": person["user"], "password": person["password"]})
            assert r.status_code == 303 and r.headers["location"] == "/desk", r.text
            assert "Demo clerk" in browser.get(desk).text
        if "resident wallet" in text:  # served when set-up built it (node present)
            wallet = printed(text, "resident wallet")
            assert httpx.get(wallet, timeout=10).status_code == 200
            assert httpx.get(f"{wallet}trust.json", timeout=10).json()["issuers"]
        rpc_answer = httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
        assert int(rpc_answer.json()["result"], 16) > 0
        from credcore.keys import SigningKey

        holder = SigningKey.generate("P-256").public_key.to_jwk()
        r = httpx.post(f"{issuer}/credentials", headers={"Authorization": f"Bearer {clerk}"}, timeout=30,
                       json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": [holder]})
        assert r.status_code == 201, r.text
        issued_id = r.json()["id"]
        # accredited under its URL: that is the credential's iss, and the standard route lists the signing key
        base = issuer.removesuffix("/v1")
        from credcore.sdjwt import unsafe_decode

        decoded = unsafe_decode(r.json()["credentials"][0]["credential"])
        meta = httpx.get(f"{base}/.well-known/jwt-vc-issuer", timeout=10).json()
        assert decoded["payload"]["iss"] == meta["issuer"] == base
        assert decoded["header"]["kid"] in {k["kid"] for k in meta["jwks"]["keys"]}

        # the demo: a QR was drawn, and the printed command makes more that the counter accepts
        assert "▀" in text or "█" in text
        command = re.search(r"^\s+\$ (\S+ wallet qr \S+ --wallet \S+/resident --passphrase-file \S+)$", text,
                            re.MULTILINE)
        assert command, text
        qr = subprocess.run([*command.group(1).split(), "--text"], capture_output=True, cwd=tmp_path,
                            text=True, timeout=60, env=base_env(), check=True)
        verifier = counter.removesuffix("/counter")
        verdict = httpx.post(f"{verifier}/v1/verify", json={"presentation": qr.stdout.strip(),
                                                           "policy": "resident-basic"}, timeout=30).json()
        assert verdict["verified"] is True, verdict
        newcomer_runs_the_printed_commands(text, tmp_path, verifier)
    finally:
        interrupt(first)
    logs = [json.loads(line) for line in first.text().splitlines() if line.startswith("{")]
    requests = [entry for entry in logs if "route" in entry]
    assert {"cityhall", "market", "verifier"} <= {entry["svc"] for entry in requests}
    assert all(entry["route"] is None or "?" not in entry["route"] for entry in requests)
    assert clerk not in first.text() and "Kim Minji" not in first.text()  # no token, no claim value in the output
    with pytest.raises(httpx.ConnectError):
        httpx.get(counter, timeout=2)  # everything is down

    second = start_up(tmp_path)  # no options: the saved ports, chain state, databases and keys
    try:
        text = second.text()
        assert "already, from the last run" in text
        assert (printed(text, "issuer admin API"), printed(text, "counter page")) == (issuer, counter)
        listed = httpx.get(f"{issuer}/credentials", headers={"Authorization": f"Bearer {clerk}"}, timeout=10)
        assert issued_id in {c["id"] for c in listed.json()["credentials"]}
        assert httpx.get(counter, timeout=10).status_code == 200
    finally:
        interrupt(second)


def newcomer_runs_the_printed_commands(text: str, cwd: Path, verifier: str) -> None:
    """Every ``$ command`` line the demo printed, run as printed by a shell in the directory ``up`` ran in, with
    its PATH (where, as after ``scripts/up``, ``civicpass`` is not): the QR commands, the operator token, the
    revocation."""
    assert "valid for 30 to 60 seconds" in text  # credcore.cp1 accepts the proof's step and the next one
    shown = re.search(r"^  (CP1:.+)$", text, re.MULTILINE)  # Base45 has spaces
    assert shown, "the demo prints the QR's text, for pasting"
    commands = re.findall(r"^  \$ (.+)$", text, re.MULTILINE)
    assert len(commands) == 4 and "curl" in commands[-1] and "$OPERATOR" in commands[-1], commands
    env = {k: v for k, v in base_env().items() if k != "OPERATOR"}  # the PATH ``up`` had (no venv, here)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(commands)], check=False, cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("valid until") == 2, run.stdout  # two fresh QR codes
    assert len(re.findall(r"^CP1:", run.stdout, re.MULTILINE)) == 2  # each with its text
    revoked = json.loads(run.stdout.strip().splitlines()[-1])
    assert revoked["status"] == "revoked", revoked
