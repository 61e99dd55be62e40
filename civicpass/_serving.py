"""uvicorn as both services run it, with the bounds on slow clients that uvicorn does not have.

uvicorn (0.54) closes a connection that sits idle *between* requests (``timeout_keep_alive``), but nothing
times out a request while it arrives: a client that sends half a header line, or a body one byte every
few seconds, holds its connection (a file descriptor, buffers) for as long as it likes; 300 of them are a
slowloris. ``limit_concurrency`` is no answer, since it would refuse honest clients with 503 as soon as the
slow ones fill it. So the HTTP protocol here is uvicorn's httptools protocol with deadlines:

- **header deadline**: from a connection's start, or the first byte of a next request on a kept-alive
  connection, the request line and headers must be complete within ``header_timeout_s``; else the server
  answers 408 and closes;
- **body deadline**: once the headers are in, the whole body must follow within ``body_timeout_s``; else
  the connection is closed (the app sees a disconnect);
- **header size**: request line plus headers at most :data:`MAX_HEADER_BYTES`, else 431 and close;
- **keep-alive**: uvicorn's own ``timeout_keep_alive``.

The timeouts are extra attributes on uvicorn's ``Config``, so they reach every worker process with it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADER_BYTES", "BoundedHttpToolsProtocol", "config", "run"]

MAX_HEADER_BYTES: Final = 64 * 1024


def _plain(status: bytes, text: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: " + str(len(text)).encode() + b"\r\n\r\n" + text)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body deadlines and the header size bound above."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout: float = getattr(config, "header_timeout_s", 10.0)
        self._body_timeout: float = getattr(config, "body_timeout_s", 30.0)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0

    def _arm(self, seconds: float, in_headers: bool) -> None:
        self._disarm()
        self._in_headers = in_headers
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_plain(b"408 Request Timeout", b"request headers took too long"))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout, in_headers=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete) and not self.pipeline:
            self._arm(self._header_timeout, in_headers=True)  # the first bytes of the next request
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.transport.write(_plain(b"431 Request Header Fields Too Large", b"request headers are too large"))
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(self._body_timeout, in_headers=False)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def config(app: Any, *, host: str, port: int, header_timeout_s: float, body_timeout_s: float, keep_alive_s: int,
           workers: int = 1, **options: Any) -> uvicorn.Config:
    """A uvicorn config for a civicpass service: uvloop, the bounded httptools protocol, no access log.

    uvloop + httptools on purpose: with several workers the default asyncio loop showed a latency floor
    (TCP_NODELAY lost on the shared socket).
    """
    cfg = uvicorn.Config(app, host=host, port=port, workers=workers, loop="uvloop", http=BoundedHttpToolsProtocol,
                         access_log=False, timeout_keep_alive=keep_alive_s, **options)
    cfg.header_timeout_s = header_timeout_s  # type: ignore[attr-defined]
    cfg.body_timeout_s = body_timeout_s  # type: ignore[attr-defined]
    return cfg


def run(cfg: uvicorn.Config) -> None:
    """``uvicorn.run`` for a prepared config: one process, or ``cfg.workers`` worker processes."""
    from uvicorn.supervisors import Multiprocess

    if cfg.workers > 1:
        from httpedge.metrics import prepare_multiprocess, remove_multiprocess_dir

        metrics_dir = prepare_multiprocess("service")  # every worker's metrics summed on each scrape
        try:
            Multiprocess(cfg, sockets=[cfg.bind_socket()]).run()
        finally:
            remove_multiprocess_dir(metrics_dir)
    else:
        uvicorn.Server(cfg).run()
