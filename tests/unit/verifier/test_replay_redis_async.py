"""The verifier's event-loop replay cache (:class:`verifier.replay.AsyncRedisReplayCache`, redis-py's asyncio
client with hiredis), and how it fails.

Against the real Redis (required in CI): SET NX EX semantics, TTLs, concurrent calls, keys shared with the
synchronous cache. Against small scripted servers: replies split across packets, error replies, a server
that never answers, one that drops the connection, garbage, AUTH and the database from the URL, calls
behind a failed connection. Every test runs on asyncio's loop and on uvloop (the one the service runs on).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from credcore.errors import InfrastructureError
from verifier.replay import AsyncRedisReplayCache, RedisReplayCache

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request) -> Callable[[Awaitable[object]], object]:
    def runner(coro: Awaitable[object]) -> object:
        loop = LOOPS[request.param]()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()

    return runner


class Clock:
    def now(self) -> int:
        return 1_000


# --- a scripted server ------------------------------------------------------------------------------------
Script = Callable[[list[bytes], asyncio.StreamWriter], Awaitable[None]]


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    head = await reader.readline()
    if not head:
        raise EOFError
    parts = []
    for _ in range(int(head[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[int, list[list[bytes]], list[int]]]:
    seen: list[list[bytes]] = []
    connections = [0]
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                cmd = await _read_command(reader)
                seen.append(cmd)
                await script(cmd, writer)
        except (EOFError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen, connections
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


# --- the real Redis -------------------------------------------------------------------------------------
def _stored(key: bytes) -> bytes:
    return RedisReplayCache.PREFIX + hashlib.sha256(key).hexdigest().encode()


def test_set_nx_ex_on_redis(run, redis_url):
    import redis

    key = secrets.token_bytes(16)

    async def go() -> list[bool]:
        cache = AsyncRedisReplayCache.from_url(redis_url, Clock())
        try:
            return [await cache.first_use(key, 1_030), await cache.first_use(key, 1_030)]
        finally:
            await cache.aclose()

    assert run(go()) == [True, False]
    sync = redis.Redis.from_url(redis_url)  # the URL's database, as the synchronous cache reads it
    assert 0 < sync.ttl(_stored(key)) <= 30
    sync.close()


def test_concurrent_calls_have_one_winner_per_key(run, redis_url):
    keys = [secrets.token_bytes(16) for _ in range(50)]

    async def go() -> list[bool]:
        cache = AsyncRedisReplayCache.from_url(redis_url, Clock())
        try:
            return list(await asyncio.gather(*(cache.first_use(keys[i % 50], 1_030) for i in range(200))))
        finally:
            await cache.aclose()

    wins = run(go())
    assert [sum(wins[i::50]) for i in range(50)] == [1] * 50  # each key four times, interleaved


def test_async_and_sync_caches_share_keys(run, redis_url):
    import redis

    key = secrets.token_bytes(16)
    sync = RedisReplayCache(redis.Redis.from_url(redis_url), Clock())

    async def go() -> bool:
        cache = AsyncRedisReplayCache.from_url(redis_url, Clock())
        try:
            return await cache.first_use(key, 1_030)
        finally:
            await cache.aclose()

    assert run(go()) is True
    assert sync.first_use(key, 1_030) is False


# --- scripted servers -----------------------------------------------------------------------------------
def _cache(port: int, timeout: float = 2.0, auth: str = "") -> AsyncRedisReplayCache:
    return AsyncRedisReplayCache.from_url(f"redis://{auth}127.0.0.1:{port}/0", Clock(), timeout=timeout)


def test_replies_split_across_packets(run):
    keys: set[bytes] = set()

    async def ok_once_then_exists(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        # "+OK" for a key's first SET, the null bulk string after, sent a byte at a time
        reply = b"$-1\r\n" if cmd[1] in keys else b"+OK\r\n"
        keys.add(cmd[1])
        for byte in reply:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0)

    async def go() -> list[bool]:
        async with scripted(ok_once_then_exists) as (port, _, _):
            cache = _cache(port)
            results = [await cache.first_use(k, 1_005) for k in [b"a", b"b", b"a"]]
            await cache.aclose()
            return results

    assert run(go()) == [True, True, False]


def test_error_reply_fails_that_call_only(run):
    bad = _stored(b"bad")

    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"-OOM command not allowed\r\n" if cmd[1] == bad else b"+OK\r\n")

    async def go() -> tuple[str, bool, int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            with pytest.raises(InfrastructureError) as err:
                await cache.first_use(b"bad", 1_005)
            ok = await cache.first_use(b"good", 1_005)
            await cache.aclose()
            return str(err.value.__cause__), ok, connections[0]

    message, ok, connections = run(go())
    assert "command not allowed" in message and ok is True and connections == 1


def test_calls_of_one_loop_turn_share_one_round_trip(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK\r\n")

    async def go() -> tuple[list[bool], int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            results = list(await asyncio.gather(*(cache.first_use(b"k%d" % i, 1_005) for i in range(20))))
            await cache.aclose()
            return results, connections[0]

    assert run(go()) == ([True] * 20, 1)  # one pipeline on one connection, not twenty connections


def test_calls_made_while_a_round_trip_is_out_wait_for_it_on_the_same_connection(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        if cmd[1] == _stored(b"first"):
            await asyncio.sleep(0.1)  # a slow first round trip; the later calls arrive meanwhile
        writer.write(b"+OK\r\n")

    async def go() -> tuple[list[bool], int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            first = asyncio.ensure_future(cache.first_use(b"first", 1_005))
            await asyncio.sleep(0.02)
            later = [cache.first_use(b"k%d" % i, 1_005) for i in range(10)]
            results = [await first, *await asyncio.gather(*later)]
            await cache.aclose()
            return results, connections[0]

    assert run(go()) == ([True] * 11, 1)  # queued behind the first answer, no second connection opened


def test_silent_server_times_out(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        return  # reads, never answers

    async def go() -> float:
        async with scripted(script) as (port, _, _):
            cache = _cache(port, timeout=0.2)
            started = time.monotonic()
            with pytest.raises(InfrastructureError):
                await asyncio.gather(cache.first_use(b"a", 1_005), cache.first_use(b"b", 1_005))
            await cache.aclose()
            return time.monotonic() - started

    assert 0.15 < run(go()) < 1.5


def test_dropped_connection_fails_the_call_and_the_next_call_reconnects(run):
    drop = _stored(b"drop")

    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        if cmd[1] == drop:
            writer.transport.abort()
        else:
            writer.write(b"+OK\r\n")

    async def go() -> tuple[bool, int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            with pytest.raises(InfrastructureError):
                await cache.first_use(b"drop", 1_005)
            ok = await cache.first_use(b"next", 1_005)
            await cache.aclose()
            return ok, connections[0]

    assert run(go()) == (True, 2)


@pytest.mark.parametrize("reply", [b"?what\r\n", b"$abc\r\n", b"*x\r\n"])
def test_garbage_replies_are_unavailable_and_the_next_call_reconnects(run, reply):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(reply if cmd[1] == _stored(b"a") else b"+OK\r\n")

    async def go() -> tuple[bool, int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            with pytest.raises(InfrastructureError):
                await cache.first_use(b"a", 1_005)
            ok = await cache.first_use(b"b", 1_005)
            await cache.aclose()
            return ok, connections[0]

    assert run(go()) == (True, 2)


def test_a_reply_nobody_asked_for_never_answers_the_next_call(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK\r\n" + (b"$-1\r\n" if cmd[1] == _stored(b"a") else b""))

    async def go() -> tuple[list[bool], int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port)
            first = await cache.first_use(b"a", 1_005)
            await asyncio.sleep(0.05)  # the stray "$-1" (the "already used" answer) is waiting on the socket
            second = await cache.first_use(b"b", 1_005)
            await cache.aclose()
            return [first, second], connections[0]

    assert run(go()) == ([True, True], 2)  # the connection holding it was replaced


def test_auth_and_database_come_from_the_url(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK\r\n")

    async def go() -> list[list[bytes]]:
        async with scripted(script) as (port, seen, _):
            cache = AsyncRedisReplayCache.from_url(f"redis://counter:s%40cret@127.0.0.1:{port}/3", Clock())
            await cache.first_use(b"k", 1_007)
            await cache.aclose()
            return seen

    assert run(go()) == [[b"AUTH", b"counter", b"s@cret"], [b"SELECT", b"3"],
                         [b"SET", _stored(b"k"), b"1", b"NX", b"EX", b"7"]]


def test_refused_auth_is_unavailable(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"-WRONGPASS invalid username-password pair\r\n" if cmd[0] == b"AUTH" else b"+OK\r\n")

    async def go() -> None:
        async with scripted(script) as (port, _, _):
            cache = _cache(port, auth=":nope@")
            with pytest.raises(InfrastructureError):
                await cache.first_use(b"k", 1_007)
            await cache.aclose()

    run(go())


def test_calls_behind_a_failed_connection_fail_with_it(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        return  # accepts the connection, never answers AUTH

    async def go() -> tuple[float, list[object], float, int]:
        async with scripted(script) as (port, _, connections):
            cache = _cache(port, timeout=0.3, auth=":pw@")
            started = time.monotonic()
            results = await asyncio.gather(*(cache.first_use(b"k%d" % i, 1_005) for i in range(5)),
                                           return_exceptions=True)
            elapsed = time.monotonic() - started
            tried = connections[0]
            started = time.monotonic()
            with pytest.raises(InfrastructureError):  # within the timeout of the failure: no new attempt
                await cache.first_use(b"later", 1_005)
            at_once = time.monotonic() - started
            assert connections[0] == tried
            await cache.aclose()
            return elapsed, results, at_once, tried

    elapsed, results, at_once, _ = run(go())
    assert all(isinstance(r, InfrastructureError) for r in results)
    assert elapsed < 1.0  # one timeout for all five, not five in turn (1.5 s)
    assert at_once < 0.1


def test_redis_down_is_infrastructure_error(run):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        cache = AsyncRedisReplayCache.from_url(f"redis://127.0.0.1:{port}/0", Clock(), timeout=0.5)
        with pytest.raises(InfrastructureError):
            await cache.first_use(b"k", 1_030)
        await cache.aclose()

    run(go())


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "unix:///run/redis.sock", "redis://h/x"])
def test_unsupported_urls_are_refused(url):
    with pytest.raises(ValueError):
        AsyncRedisReplayCache.from_url(url, Clock())
