"""Replay caches: first use wins, a repeat loses, expiry frees the key, and racing workers see one winner.

Run against SQLite here, and PostgreSQL and Redis through the conftest fixtures (skipped locally when
absent, required in CI).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from credcore.errors import InfrastructureError
from verifier.replay import RedisReplayCache, SqlReplayCache


class Clock:
    def __init__(self, now: int = 1_000) -> None:
        self.t = now

    def now(self) -> int:
        return self.t


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def cache(request, tmp_path):
    yield from _cache(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_cache(request, tmp_path):
    yield from _cache(request, tmp_path)


def _cache(request, tmp_path) -> Iterator[tuple[object, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
        yield SqlReplayCache(engine, clock), clock
        engine.dispose()
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        engine = create_engine(url)
        schema = f"t_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        scoped = engine.execution_options(schema_translate_map={None: schema})
        try:
            yield SqlReplayCache(scoped, clock), clock
        finally:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()
    else:
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        yield RedisReplayCache(client, clock), clock
        client.close()


def test_first_use_then_replay(cache):
    guard, clock = cache
    key = secrets.token_bytes(16)
    assert guard.first_use(key, clock.t + 30)
    assert not guard.first_use(key, clock.t + 30)
    assert guard.first_use(secrets.token_bytes(16), clock.t + 30)


def test_expired_entry_can_be_used_again(sql_cache):
    # Redis expires keys on its own clock: test_redis_entries_carry_a_ttl covers it.
    guard, clock = sql_cache
    key = secrets.token_bytes(16)
    assert guard.first_use(key, clock.t + 30)
    clock.t += 31
    assert guard.first_use(key, clock.t + 30)
    assert not guard.first_use(key, clock.t + 30)


def test_redis_entries_carry_a_ttl(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    key = secrets.token_bytes(16)
    assert RedisReplayCache(client, clock).first_use(key, clock.t + 30)
    import hashlib

    name = RedisReplayCache.PREFIX + hashlib.sha256(key).hexdigest().encode()
    assert 0 < client.ttl(name) <= 30
    client.close()


def test_concurrent_first_use_has_exactly_one_winner(cache):
    guard, clock = cache
    key = secrets.token_bytes(16)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        wins.append(guard.first_use(key, clock.t + 30))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_sql_purge_removes_only_expired(tmp_path):
    clock = Clock()
    guard = SqlReplayCache(create_engine(f"sqlite:///{tmp_path / 'r.db'}"), clock)
    guard.first_use(b"old", clock.t + 1)
    guard.first_use(b"new", clock.t + 100)
    clock.t += 10
    assert guard.purge() == 1
    assert not guard.first_use(b"new", clock.t + 100)


def test_unreachable_redis_is_an_infrastructure_error():
    import redis

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(InfrastructureError):
        RedisReplayCache(client, Clock()).first_use(b"k", 2_000)
