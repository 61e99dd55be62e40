"""The realistic dev chain: anvil from the npm package ``@foundry-rs/anvil``, run as a child process.

Same dev accounts as the embedded chain (anvil's default mnemonic), Prague rules, 127.0.0.1 only.
``state_path`` maps to anvil's ``--state`` (load on start, dump on exit) plus a periodic dump, so an
unclean exit loses at most :data:`STATE_INTERVAL_S` seconds of history.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from chain_local.accounts import DEV_ACCOUNT_COUNT, DEV_MNEMONIC, dev_accounts
from chain_local.running import RunningChain
from credcore.errors import ChainUnavailableError

ANVIL_CHAIN_ID = 31337
FORK = "prague"
STATE_INTERVAL_S = 10
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def default_anvil_binary() -> Path:
    return Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "anvil"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def start_anvil(
    port: int = 8545,
    state_path: Path | str | None = None,
    *,
    anvil: Path | str | None = None,
    host: str = "127.0.0.1",
    log_path: Path | None = None,
) -> RunningChain:
    """Run anvil on ``host:port`` (0 = a free port) and return once it answers JSON-RPC.

    Raises:
        ChainUnavailableError: the binary is missing, or anvil exited or did not answer in time.
    """
    binary = Path(anvil) if anvil is not None else default_anvil_binary()
    if not binary.exists():
        raise ChainUnavailableError(f"anvil not found at {binary}; run `npm ci` to install @foundry-rs/anvil")
    port = port or free_port(host)
    if _port_taken(host, port):
        # Otherwise _wait_ready would take whatever node already answers there for the anvil just started.
        raise ChainUnavailableError(f"port {port} on {host} is already in use")
    args = [str(binary), "--hardfork", FORK, "--host", host, "--port", str(port), "--chain-id", str(ANVIL_CHAIN_ID)]
    args += ["--mnemonic", DEV_MNEMONIC, "--accounts", str(DEV_ACCOUNT_COUNT), "--balance", "10000"]
    path = Path(state_path) if state_path is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(path), "--state-interval", str(STATE_INTERVAL_S)]
    log = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # noqa: S603
    url = f"http://{host}:{port}"
    try:
        _wait_ready(proc, url)
    except BaseException:
        _terminate(proc)
        raise
    finally:
        if log_path is not None:
            log.close()  # type: ignore[union-attr]

    def stop() -> None:
        _terminate(proc)

    return RunningChain(
        url=url,
        chain_id=ANVIL_CHAIN_ID,
        engine="anvil",
        fork=FORK,
        accounts=dev_accounts(DEV_ACCOUNT_COUNT),
        state_path=path,
        _stop=stop,
    )


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChainUnavailableError(f"anvil exited with code {proc.returncode} before answering at {url}")
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
            with urllib.request.urlopen(req, timeout=1) as resp:  # noqa: S310 - our own http://127.0.0.1 URL
                if json.load(resp).get("result"):
                    return
        except OSError:
            time.sleep(0.1)
    raise ChainUnavailableError(f"anvil did not answer at {url} within {START_TIMEOUT_S:.0f} s")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first: anvil dumps ``--state`` on a clean exit; SIGKILL only if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
