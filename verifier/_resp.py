"""The replay cache's Redis client on the event loop: one pipelined connection, one command (``SET NX EX``).

Why not redis-py's asyncio client, which the rest of the verifier uses: a ``SET`` through it passes stream
writer, retry and event layers with two timeouts per call, a sizeable share of a whole ``POST /v1/verify``'s
CPU. This protocol writes the command in one syscall and reads replies as they arrive, a small fraction of
that; concurrent requests of one worker share the connection in order
(RESP replies come back in the order the commands were sent), and the commands of one event-loop turn
leave in one write. The synchronous cache keeps redis-py.

Failure is loud and bounded: a reply not received within ``timeout`` seconds, a dropped connection or an
error reply fails the waiting calls with :class:`RedisUnavailable`; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Final, cast
from urllib.parse import unquote, urlsplit

__all__ = ["RedisUnavailable", "RespClient"]

_MAX_BUFFER: Final = 1 << 20  # replies here are a few bytes; more than this unanswered is a broken peer


class RedisUnavailable(ConnectionError):
    """Redis did not give a usable answer (down, too slow, dropped the connection, or replied with an error)."""


def command(*parts: bytes) -> bytes:
    """A RESP array of bulk strings, the form every Redis command takes on the wire."""
    return b"".join([b"*%d\r\n" % len(parts), *(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)])


class _Connection(asyncio.Protocol):
    """One TCP connection: commands go out in order, each reply resolves the oldest waiting future."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future[bytes | None], float]] = deque()
        self.buffer = bytearray()
        self.closed = False
        self._why = "connection to Redis lost"
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []
        self.lost: asyncio.Future[None] = self.loop.create_future()

    # --- asyncio.Protocol ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        pos, size = 0, len(buf)
        while pos < size:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            kind, line = buf[pos], bytes(buf[pos + 1 : end])
            value: bytes | RedisUnavailable | None
            if kind == 0x24:  # '$' bulk string, or the null bulk string ($-1) SET NX answers when the key exists
                length = int(line) if line.lstrip(b"-").isdigit() else -2
                if length == -1:
                    value, nxt = None, end + 2
                elif length >= 0:
                    if size < end + 4 + length:
                        break
                    value, nxt = bytes(buf[end + 2 : end + 2 + length]), end + 4 + length
                else:
                    return self._abort("malformed reply from Redis")
            elif kind in (0x2B, 0x3A):  # '+' simple string, ':' integer
                value, nxt = line, end + 2
            elif kind == 0x2D:  # '-' error
                why = line[:80].decode(errors="replace")
                value, nxt = RedisUnavailable(f"Redis refused the command: {why}"), end + 2
            else:
                return self._abort("unexpected reply type from Redis")
            if not self.waiting:
                return self._abort("reply from Redis without a command")
            future, _ = self.waiting.popleft()
            if not future.done():
                if isinstance(value, RedisUnavailable):
                    future.set_exception(value)
                else:
                    future.set_result(value)
            pos = nxt
        del buf[:pos]
        if len(buf) > _MAX_BUFFER:
            self._abort("oversized reply from Redis")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisUnavailable(self._why))

    # --- calls --------------------------------------------------------------------------------------------
    def call(self, packed: bytes) -> asyncio.Future[bytes | None]:
        future: asyncio.Future[bytes | None] = self.loop.create_future()
        if self.closed or self.transport is None:
            future.set_exception(RedisUnavailable(self._why))
            return future
        self.waiting.append((future, self.loop.time()))
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(packed)
        if self._timer is None:
            self._timer = self.loop.call_later(self.timeout, self._watch)
        return future

    def _flush(self) -> None:
        # Commands issued in one turn of the event loop leave in one write: under load several requests'
        # replay checks share a syscall, which costs more here than the rest of the round trip.
        out, self._out = self._out, []
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(out))

    def _watch(self) -> None:
        # One timer per connection, not one per call: it wakes when the oldest call would be overdue.
        self._timer = None
        if not self.waiting or self.closed:
            return
        overdue_at = self.waiting[0][1] + self.timeout
        if self.loop.time() >= overdue_at:
            self._abort(f"Redis did not answer within {self.timeout:g} s")
        else:
            self._timer = self.loop.call_at(overdue_at, self._watch)

    def _abort(self, why: str) -> None:
        self._why = why
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails everything waiting
        else:  # pragma: no cover - transports are set before any data arrives
            self.connection_lost(None)

    def close(self) -> None:
        self._why = "Redis client closed"
        if self.transport is not None and not self.closed:
            self.transport.close()


class RespClient:
    """``SET key value NX EX ttl`` on a lazily opened, shared connection; see the module docstring."""

    def __init__(self, host: str, port: int = 6379, *, db: int = 0, username: str | None = None,
                 password: str | None = None, tls: bool = False, timeout: float = 2.0) -> None:
        self.host, self.port, self.db, self.timeout = host, port, db, timeout
        self._auth = [p.encode() for p in (username, password) if p is not None] if password is not None else []
        self._tls = ssl.create_default_context() if tls else None
        self._conn: _Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._failed_at: float | None = None  # loop time of the last failed connection attempt

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0) -> RespClient:
        """``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS, certificates verified)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("the Redis URL must be redis://host[:port][/db] or rediss://...")
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise ValueError("the Redis URL's database must be a number")
        return cls(parts.hostname, parts.port or 6379, db=int(db),
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None,
                   tls=parts.scheme == "rediss", timeout=timeout)

    async def set_nx_ex(self, key: bytes, value: bytes, ttl: int) -> bool:
        """True when this call set the key (it did not exist), False when it already existed."""
        conn = self._conn
        if conn is None or conn.closed or conn.loop is not asyncio.get_running_loop():
            conn = await self._connect()
        reply = await conn.call(command(b"SET", key, value, b"NX", b"EX", b"%d" % ttl))
        return reply is not None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop  # a lock and a connection belong to one loop
        async with self._lock:
            conn = self._conn
            if conn is not None and not conn.closed and conn.loop is loop:
                return conn  # another call connected while this one waited
            if self._failed_at is not None and loop.time() - self._failed_at < self.timeout:
                # The calls that queued behind a failed attempt fail with it, rather than each waiting its own
                # timeout in turn; the first call after that tries again.
                raise RedisUnavailable(f"Redis at {self.host}:{self.port} was unreachable a moment ago")
            conn = None
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: _Connection(self.timeout), self.host, self.port, ssl=self._tls),
                    self.timeout)
                if self._auth:
                    await conn.call(command(b"AUTH", *self._auth))
                if self.db:
                    await conn.call(command(b"SELECT", b"%d" % self.db))
            except (TimeoutError, OSError) as exc:  # RedisUnavailable is an OSError too
                self._failed_at = loop.time()
                if conn is not None:
                    conn.close()
                if isinstance(exc, RedisUnavailable):
                    raise
                raise RedisUnavailable(f"cannot connect to Redis at {self.host}:{self.port}") from exc
            self._conn, self._failed_at = conn, None
            return conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is asyncio.get_running_loop():
            conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.lost), self.timeout)
