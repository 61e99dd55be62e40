"""The HTTP face of the embedded chain: stdlib ``ThreadingHTTPServer`` on 127.0.0.1.

Why the standard library and not uvicorn: py-evm is synchronous and runs under one lock anyway, so an
event loop adds nothing but a second thread model; ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive has no
dependencies, starts in milliseconds, shuts down deterministically from another thread, and lets group
commit work (requests waiting on the chain lock end up in one block).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chain_local.node import FORK, EmbeddedChain
from chain_local.rpc import Dispatcher
from chain_local.running import RunningChain

MAX_BODY = 32 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: web3's requests session reuses one connection
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold the body for a delayed ACK
    server: _Server

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, b'{"error":"Content-Length required"}')
            return
        if not 0 <= length <= MAX_BODY:
            self._send(413, b'{"error":"request too large"}')
            self.close_connection = True
            return
        body = self.server.dispatcher.handle(self.rfile.read(length))
        self._send(200, body or b"")

    def do_GET(self) -> None:  # a liveness answer for health checks and curious browsers
        self._send(200, b'{"ok":true,"jsonrpc":"POST JSON-RPC 2.0 requests to this URL"}')

    def do_OPTIONS(self) -> None:  # CORS preflight, so browser pages on localhost can talk to the dev chain
        self._send(204, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the console; errors are logged by the dispatcher


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    dispatcher: Dispatcher


def start_embedded(port: int = 8545, state_path: Path | str | None = None, *, host: str = "127.0.0.1") -> RunningChain:
    """Start the embedded chain's JSON-RPC server on ``host:port`` (0 = any free port) in a background thread.

    With ``state_path`` the chain continues from that journal and keeps writing it (see
    :mod:`chain_local.journal`); without it the chain lives in memory only.

    Raises:
        ChainStateError: ``state_path`` is not a chain journal or belongs to another configuration.
        OSError: the port is taken.
    """
    path = Path(state_path) if state_path is not None else None
    chain = EmbeddedChain(path)
    try:
        server = _Server((host, port), _Handler)
    except OSError:
        chain.close()
        raise
    server.dispatcher = Dispatcher(chain)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    # so the first eth_getLogs after a restart does not pay for reading every header
    threading.Thread(target=chain.warm_bloom_cache, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        chain.close()

    actual_port = server.server_address[1]
    return RunningChain(
        url=f"http://{host}:{actual_port}",
        chain_id=chain.chain_id,
        engine="embedded",
        fork=FORK,
        accounts=chain.accounts,
        state_path=path,
        _stop=stop,
        node=chain,
    )
