"""Replay caches shared by the verifier's workers: SQL (default) or Redis, chosen by one setting.

Both implement :class:`credcore.ports.ReplayGuard`: ``first_use(key, expires_at)`` records a key and says
whether this was its first use, atomically across processes, because a ``CP1:`` presentation is accepted
once per time step and a nonce once, whichever worker sees it.

- SQL: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now RETURNING key`` statement
  (SQLite >= 3.35 and PostgreSQL). A returned row says we inserted (or took over an expired row); none
  says another use got there first. There is no read-then-write window. (``RETURNING`` rather than the
  row count, which psycopg does not report reliably for a conditional upsert.)
- Redis: ``SET key 1 NX EX ttl``, the textbook atomic once-only marker; Redis expires the key itself.
  The service uses redis-py's asyncio client (:class:`AsyncRedisReplayCache`, replies parsed by hiredis) so a
  worker keeps serving while Redis answers: credcore's pipeline is synchronous, so the service runs it with the
  replay decision deferred, asks the cache about the key it returns, and gives the answer back to credcore
  (:class:`credcore.verification.PendingVerification`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import hiredis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from credcore.errors import InfrastructureError
from credcore.ports import Clock
from verifier._db import create_tables

__all__ = ["AsyncRedisReplayCache", "RedisReplayCache", "SqlReplayCache", "replay_table"]

metadata = MetaData()
replay_table: Final = Table(
    "verifier_replay",
    metadata,
    Column("key", LargeBinary(32), primary_key=True),  # sha256 of the caller's key: bounded size
    Column("expires_at", BigInteger, nullable=False, index=True),
)


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class SqlReplayCache:
    """Replay cache in a SQL table; the engine is shared with the rest of the verifier store."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        insert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(engine.dialect.name)
        if insert is None:
            raise ValueError(f"replay cache supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self._insert = insert
        create_tables(metadata, engine)

    def first_use(self, key: bytes, expires_at: int) -> bool:
        now = self._clock.now()
        t = replay_table
        stmt = self._insert(t).values(key=_digest(key), expires_at=expires_at)
        # An expired row with the same key is taken over; a live one makes the statement a no-op.
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.key], set_={"expires_at": stmt.excluded.expires_at}, where=t.c.expires_at <= now
        ).returning(t.c.key)
        try:
            with self._engine.begin() as conn:
                return conn.execute(stmt).first() is not None
        except Exception as exc:  # driver errors vary; all mean the cache cannot answer
            raise InfrastructureError("replay cache database unavailable") from exc

    def purge(self) -> int:
        """Delete expired rows; returns how many. Run now and then (the service does it on each sync)."""
        stmt = delete(replay_table).where(replay_table.c.expires_at <= self._clock.now())
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)


class RedisReplayCache:
    """Replay cache in Redis (``SET NX EX``); ``client`` is a ``redis.Redis``."""

    PREFIX: Final = b"civicpass:verifier:replay:"

    def __init__(self, client: Any, clock: Clock) -> None:
        self._redis = client
        self._clock = clock

    def first_use(self, key: bytes, expires_at: int) -> bool:
        ttl = max(1, expires_at - self._clock.now())
        try:
            return bool(self._redis.set(self.PREFIX + _digest(key).hex().encode(), b"1", nx=True, ex=ttl))
        except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
            raise InfrastructureError("replay cache (Redis) unavailable") from exc

    def purge(self) -> int:
        return 0  # Redis expires keys itself


class AsyncRedisReplayCache:
    """The Redis cache for the event loop, on redis-py's asyncio client (same keys as :class:`RedisReplayCache`,
    so workers on either client share one cache).

    One connection of redis-py's (it does the connecting, TLS, ``AUTH`` and ``SELECT``; hiredis parses the
    replies) carries one round trip at a time: the ``SET``s asked for while a round trip is out go together
    as the next one, packed by hiredis in one write, so under load many requests share a round trip. redis-py's
    pool is not used, nor its socket timeout: a lock per checkout, a task per timed write and a timer per reply
    cost more than the ``SET`` itself (figures in BENCHMARKS.md); a round trip has one deadline. A reply waiting
    on the connection before a round trip is one nobody asked for: the connection is replaced rather than let
    it answer the wrong request.

    Failure is loud and bounded: no retries, each round trip (connecting included) within ``timeout`` seconds or
    :class:`~credcore.errors.InfrastructureError` for every call in it; the next round trip after a dropped
    connection reconnects, except that for ``timeout`` seconds after a failed connection attempt calls fail at
    once (when Redis is down, a worker under load would otherwise pile up a connection attempt per request).
    """

    def __init__(self, connect: Callable[[], redis.asyncio.Connection], clock: Clock, *, timeout: float) -> None:
        self._connect = connect
        self._clock = clock
        self._timeout = timeout
        self._conn = connect()
        self._batch: list[tuple[bytes, int, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed_at: float | None = None

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout: float = 2.0) -> AsyncRedisReplayCache:
        """``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS, certificates verified)."""
        parts = urlsplit(url)
        db = parts.path.strip("/")
        if parts.scheme not in ("redis", "rediss") or not parts.hostname or (db and not db.isdigit()):
            raise ValueError("the Redis URL must be redis://host[:port][/db] or rediss://...")
        # No CLIENT SETINFO round trips on connect, no health-check pings, no retries with back-off (a down
        # Redis must answer 503 within the timeout, not after seconds of retrying). No socket timeout on the
        # connection: each round trip has one deadline here instead of one per read and a task per write.
        factory = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=None, socket_connect_timeout=timeout,
                                                        retry=Retry(NoBackoff(), 0), lib_name=None,
                                                        lib_version=None)
        return cls(factory.make_connection, clock, timeout=timeout)

    async def first_use(self, key: bytes, expires_at: int) -> bool:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._move_to(loop)
        future: asyncio.Future[bool] = loop.create_future()
        name = RedisReplayCache.PREFIX + _digest(key).hex().encode()
        self._batch.append((name, max(1, expires_at - self._clock.now()), future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    def _move_to(self, loop: asyncio.AbstractEventLoop) -> None:
        # redis-py's connections belong to the loop they were made on: a cache used from another loop (a test
        # client serving each request on its own) starts on a fresh connection, not hang on the old one.
        if self._loop is not None:
            self._conn = self._connect()
        self._loop, self._batch, self._flusher = loop, [], None

    async def _flush(self) -> None:
        batch: list[tuple[bytes, int, asyncio.Future[bool]]] = []
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                replies = await self._round_trip(batch)
                for (_, _, future), reply in zip(batch, replies, strict=True):
                    if future.done():  # the request went away
                        continue
                    if isinstance(reply, BaseException):
                        error = InfrastructureError("replay cache (Redis) unavailable")
                        error.__cause__ = reply
                        future.set_exception(error)
                    else:
                        future.set_result(bool(reply))
                batch = []
        finally:
            self._flusher = None
            for _, _, future in batch:  # cancelled mid round trip (the loop is shutting down)
                if not future.done():
                    future.set_exception(InfrastructureError("replay cache (Redis) unavailable"))

    async def _round_trip(self, batch: list[tuple[bytes, int, asyncio.Future[bool]]]) -> list[object]:
        replies: list[object] = []
        conn, connecting = self._conn, False
        try:
            async with asyncio.timeout(self._timeout):
                if conn.is_connected and await conn.can_read_destructive():
                    await conn.disconnect()  # a reply nobody asked for: out of step, start afresh
                if not conn.is_connected:
                    if self._failed_at is not None and time.monotonic() - self._failed_at < self._timeout:
                        raise RedisConnectionError("Redis was unreachable a moment ago")
                    connecting = True
                    await conn.connect()
                    connecting, self._failed_at = False, None
                await conn.send_packed_command([hiredis.pack_command((b"SET", name, b"1", b"NX", b"EX", ttl))
                                                for name, ttl, _ in batch], check_health=False)
                for _ in batch:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:  # an error reply answers its own command only
                        replies.append(exc)
        except (RedisError, OSError, TimeoutError) as exc:
            if connecting:
                self._failed_at = time.monotonic()
            await conn.disconnect(nowait=True)  # whatever it still holds answers nobody
            replies += [exc] * (len(batch) - len(replies))
        return replies

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._conn.disconnect()
