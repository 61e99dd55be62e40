"""Replay caches shared by the verifier's workers: SQL (default) or Redis, chosen by one setting.

Both implement :class:`credcore.ports.ReplayGuard`: ``first_use(key, expires_at)`` records a key and says
whether this was its first use, atomically across processes, because a ``CP1:`` presentation is accepted
once per time step and a nonce once, whichever worker sees it.

- SQL: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now RETURNING key`` statement
  (SQLite >= 3.35 and PostgreSQL). A returned row says we inserted (or took over an expired row); none
  says another use got there first. There is no read-then-write window. (``RETURNING`` rather than the
  row count, which psycopg does not report reliably for a conditional upsert.)
- Redis: ``SET key 1 NX EX ttl``, the textbook atomic once-only marker; Redis expires the key itself.
  The service uses an event-loop client (:class:`AsyncRedisReplayCache`, on :mod:`verifier._resp`) so a
  worker keeps serving while Redis answers: credcore's pipeline is synchronous, so it runs with a
  :class:`verifier.service.DeferredReplay` that records the keys it asks about, and the service settles them
  afterwards.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from credcore.errors import InfrastructureError
from credcore.ports import Clock
from verifier._db import create_tables
from verifier._resp import RedisUnavailable, RespClient

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
    """The Redis cache for the event loop, on :class:`verifier._resp.RespClient` (same keys as
    :class:`RedisReplayCache`, so workers on either client share one cache)."""

    def __init__(self, client: RespClient, clock: Clock) -> None:
        self._redis = client
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout: float = 2.0) -> AsyncRedisReplayCache:
        return cls(RespClient.from_url(url, timeout=timeout), clock)

    async def first_use(self, key: bytes, expires_at: int) -> bool:
        ttl = max(1, expires_at - self._clock.now())
        try:
            return await self._redis.set_nx_ex(RedisReplayCache.PREFIX + _digest(key).hex().encode(), b"1", ttl)
        except RedisUnavailable as exc:
            raise InfrastructureError("replay cache (Redis) unavailable") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
