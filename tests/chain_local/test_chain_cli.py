"""``civicpass chain up`` as a user runs it: a subprocess that deploys, answers JSON-RPC, stops on Ctrl-C,
and on restart with ``--state`` reuses its deployment. Every process is killed in teardown whatever happens."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from tests.conftest import ROOT

pytestmark = [pytest.mark.chain, pytest.mark.slow]
READY_TIMEOUT_S, STOP_TIMEOUT_S = 90.0, 20.0


class ChainProcess:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / f"out-{time.monotonic_ns()}.txt"
        with self.out.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "civicpass", "chain", "up", "--port", "0", *args],
                cwd=tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            )

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "Ctrl-C stops." in self.text():
                return re.search(r"RPC URL\s+(\S+)", self.text()).group(1)
            if self.proc.poll() is not None:
                pytest.fail(f"chain up exited with {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.2)
        pytest.fail(f"chain up not ready within {READY_TIMEOUT_S} s:\n{self.text()}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=STOP_TIMEOUT_S)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def processes():
    started: list[ChainProcess] = []
    yield started
    for p in started:
        p.kill()


def test_chain_up_deploys_serves_stops_and_reuses_its_deployment(tmp_path, processes):
    args = ("--state", "chain.journal", "--deployment", "out/deployment.json")
    first = ChainProcess(tmp_path, *args)
    processes.append(first)
    url = first.wait_ready()
    deployment = json.loads((tmp_path / "out" / "deployment.json").read_text())
    assert deployment["dev"] is True and deployment["chainId"] == 1337 and deployment["rpcUrl"] == url
    assert deployment["accounts"][0]["role"] == "admin" and deployment["accounts"][0]["privateKey"]
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 10}))
    addresses = deployment["contracts"]
    assert all(w3.eth.get_code(a) for a in addresses.values())
    assert "(deployed" in first.text()
    assert first.interrupt() == 0
    assert "stopped" in first.text()

    second = ChainProcess(tmp_path, *args)
    processes.append(second)
    url2 = second.wait_ready()
    assert "(reused" in second.text()
    again = json.loads((tmp_path / "out" / "deployment.json").read_text())
    assert again["contracts"] == addresses and again["rpcUrl"] == url2
    assert all(Web3(HTTPProvider(url2)).eth.get_code(a) for a in addresses.values())
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=STOP_TIMEOUT_S) == 0


def test_chain_up_refuses_a_foreign_state_file(tmp_path, capsys):
    from civicpass.cli import main

    (tmp_path / "notes.txt").write_text("not a chain\n")
    code = main(["chain", "up", "--port", "0", "--state", str(tmp_path / "notes.txt")])
    assert code == 2 and "chain_state_invalid" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "not a chain\n"


def test_chain_up_refuses_a_taken_port(tmp_path, capsys):
    from chain_local import start_embedded
    from civicpass.cli import main

    with start_embedded(0) as running:
        port = running.url.rsplit(":", 1)[1]
        assert main(["chain", "up", "--port", port, "--deployment", str(tmp_path / "d.json")]) == 2
    assert "Address already in use" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()
