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
  worker keeps serving while Redis answers: credcore's pipeline is synchronous, so it runs with a
  :class:`verifier.service.DeferredReplay` that records the keys it asks about, and the service settles them
  afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any, Final
from urllib.parse import urlsplit

import hiredis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
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


class _FailFastPool(redis.asyncio.ConnectionPool):
    """redis-py's pool, except that for ``timeout`` seconds after a failed connection attempt every call fails at
    once: when Redis is down or unreachable the calls behind a failed attempt fail with it, rather than each
    waiting its own connection timeout (a worker under load would pile up a connection attempt per request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout = float(kwargs["socket_connect_timeout"])
        self._failed_at: float | None = None

    async def ensure_connection(self, connection: Any) -> None:
        # Called under the pool's lock, where calls queue while a connection is being made.
        if self._failed_at is not None and time.monotonic() - self._failed_at < self._timeout:
            raise RedisConnectionError("Redis was unreachable a moment ago")
        try:
            await super().ensure_connection(connection)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None


class AsyncRedisReplayCache:
    """The Redis cache for the event loop, on redis-py's asyncio client (same keys as :class:`RedisReplayCache`,
    so workers on either client share one cache).

    Failure is loud and bounded: no retries, an answer or a connection within ``timeout`` seconds or
    :class:`~credcore.errors.InfrastructureError`; the next call after a dropped connection reconnects.
    """

    def __init__(self, client: redis.asyncio.Redis, clock: Clock) -> None:
        self._redis = client
        self._clock = clock
        self._batch: list[tuple[bytes, int, asyncio.Future[bool]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout: float = 2.0) -> AsyncRedisReplayCache:
        """``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS, certificates verified)."""
        parts = urlsplit(url)
        db = parts.path.strip("/")
        if parts.scheme not in ("redis", "rediss") or not parts.hostname or (db and not db.isdigit()):
            raise ValueError("the Redis URL must be redis://host[:port][/db] or rediss://...")
        # No CLIENT SETINFO round trips on connect, no health-check pings, no retries with back-off (a down
        # Redis must answer 503 within the timeout, not after seconds of retrying).
        pool = _FailFastPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      retry=Retry(NoBackoff(), 0), lib_name=None, lib_version=None)
        return cls(redis.asyncio.Redis(connection_pool=pool), clock)

    async def first_use(self, key: bytes, expires_at: int) -> bool:
        # The SETs asked for in one turn of the event loop go to Redis as one pipeline: under load several
        # requests' replay checks share one round trip through redis-py instead of one each.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._move_to(loop)
        future: asyncio.Future[bool] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._send)
        name = RedisReplayCache.PREFIX + _digest(key).hex().encode()
        self._batch.append((name, max(1, expires_at - self._clock.now()), future))
        return await future

    def _move_to(self, loop: asyncio.AbstractEventLoop) -> None:
        # redis-py's connections and its pool's lock belong to the loop they were made on: a cache used from
        # another loop (a test client serving each request on its own) starts on a fresh pool, not hang on them.
        if self._loop is not None:
            old = self._redis.connection_pool
            pool = type(old)(connection_class=old.connection_class, max_connections=old.max_connections,
                             **old.connection_kwargs)
            self._redis = redis.asyncio.Redis(connection_pool=pool)
        self._loop, self._batch = loop, []

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.ensure_future(self._pipeline(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _pipeline(self, batch: list[tuple[bytes, int, asyncio.Future[bool]]]) -> None:
        # On one of redis-py's pooled connections, below its Pipeline object: the commands packed by hiredis in
        # one write, the replies read in order (an error reply answers its own command only).
        replies: list[object] = []
        pool = self._redis.connection_pool
        try:
            conn = await pool.get_connection()
            try:
                await conn.send_packed_command([hiredis.pack_command((b"SET", name, b"1", b"NX", b"EX", ttl))
                                                for name, ttl, _ in batch], check_health=False)
                for _ in batch:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
            finally:
                await pool.release(conn)  # with replies left unread, the pool reconnects it before reuse
        except (RedisError, OSError) as exc:
            replies += [exc] * (len(batch) - len(replies))
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the request went away
                continue
            if isinstance(reply, BaseException):
                error = InfrastructureError("replay cache (Redis) unavailable")
                error.__cause__ = reply
                future.set_exception(error)
            else:
                future.set_result(bool(reply))

    async def aclose(self) -> None:
        await self._redis.aclose(close_connection_pool=True)
