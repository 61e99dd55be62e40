"""The replay cache's event-loop Redis client (verifier/_resp.py).

Against the real Redis (required in CI): SET NX EX semantics, TTLs, the database from the URL, pipelined
concurrent calls. Against small scripted servers: replies split across packets, error replies, a server
that never answers, one that drops the connection, garbage, AUTH. Every test runs on asyncio's loop and
on uvloop (the one the service runs on).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from credcore.errors import InfrastructureError
from verifier._resp import RedisUnavailable, RespClient, command
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
def test_set_nx_ex_on_redis(run, redis_url):
    import redis

    key = b"civicpass:test:resp:" + secrets.token_hex(8).encode()

    async def go() -> list[bool]:
        client = RespClient.from_url(redis_url)
        try:
            return [await client.set_nx_ex(key, b"1", 30), await client.set_nx_ex(key, b"1", 30)]
        finally:
            await client.aclose()

    assert run(go()) == [True, False]
    sync = redis.Redis.from_url(redis_url)  # the URL's database, as redis-py reads it
    assert 0 < sync.ttl(key) <= 30
    sync.close()


def test_concurrent_calls_are_pipelined_and_answered_in_order(run, redis_url):
    prefix = b"civicpass:test:resp:" + secrets.token_hex(8).encode()
    keys = [prefix + b":%d" % (i % 50) for i in range(200)]  # each key four times, interleaved

    async def go() -> list[bool]:
        client = RespClient.from_url(redis_url)
        try:
            return list(await asyncio.gather(*(client.set_nx_ex(k, b"1", 30) for k in keys)))
        finally:
            await client.aclose()

    wins = run(go())
    assert wins == [True] * 50 + [False] * 150


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
            client = RespClient("127.0.0.1", port)
            results = list(await asyncio.gather(*(client.set_nx_ex(k, b"1", 5) for k in [b"a", b"b", b"a"])))
            await client.aclose()
            return results

    assert run(go()) == [True, True, False]


def test_error_reply_fails_that_call_only(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"-OOM command not allowed\r\n" if cmd[1] == b"bad" else b"+OK\r\n")

    async def go() -> tuple[str, bool, int]:
        async with scripted(script) as (port, _, connections):
            client = RespClient("127.0.0.1", port)
            with pytest.raises(RedisUnavailable) as err:
                await client.set_nx_ex(b"bad", b"1", 5)
            ok = await client.set_nx_ex(b"good", b"1", 5)
            await client.aclose()
            return str(err.value), ok, connections[0]

    message, ok, connections = run(go())
    assert "OOM" in message and ok is True and connections == 1


def test_silent_server_times_out(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        return  # reads, never answers

    async def go() -> float:
        async with scripted(script) as (port, _, _):
            client = RespClient("127.0.0.1", port, timeout=0.2)
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="did not answer"):
                await asyncio.gather(client.set_nx_ex(b"a", b"1", 5), client.set_nx_ex(b"b", b"1", 5))
            await client.aclose()
            return time.monotonic() - started

    assert 0.15 < run(go()) < 1.5


def test_dropped_connection_fails_pending_calls_and_the_next_call_reconnects(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        if cmd[1] == b"drop":
            writer.transport.abort()
        else:
            writer.write(b"+OK\r\n")

    async def go() -> tuple[bool, int]:
        async with scripted(script) as (port, _, connections):
            client = RespClient("127.0.0.1", port)
            with pytest.raises(RedisUnavailable, match="lost"):
                await client.set_nx_ex(b"drop", b"1", 5)
            ok = await client.set_nx_ex(b"next", b"1", 5)
            await client.aclose()
            return ok, connections[0]

    assert run(go()) == (True, 2)


@pytest.mark.parametrize("reply", [b"?what\r\n", b"$abc\r\n", b"+OK\r\n+OK\r\n"])
def test_garbage_or_unasked_replies_drop_the_connection(run, reply):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(reply)

    async def go() -> None:
        async with scripted(script) as (port, _, _):
            client = RespClient("127.0.0.1", port)
            with contextlib.suppress(RedisUnavailable):
                await client.set_nx_ex(b"a", b"1", 5)  # the first "+OK" of the last case answers this one
            with pytest.raises(RedisUnavailable):
                await client.set_nx_ex(b"b", b"1", 5)
                await client.set_nx_ex(b"c", b"1", 5)
            await client.aclose()

    run(go())


def test_auth_and_database_come_from_the_url(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK\r\n")

    async def go() -> list[list[bytes]]:
        async with scripted(script) as (port, seen, _):
            client = RespClient.from_url(f"redis://counter:s%40cret@127.0.0.1:{port}/3")
            await client.set_nx_ex(b"k", b"1", 7)
            await client.aclose()
            return seen

    assert run(go()) == [[b"AUTH", b"counter", b"s@cret"], [b"SELECT", b"3"], [b"SET", b"k", b"1", b"NX", b"EX", b"7"]]


def test_refused_auth_is_unavailable(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"-WRONGPASS invalid username-password pair\r\n" if cmd[0] == b"AUTH" else b"+OK\r\n")

    async def go() -> None:
        async with scripted(script) as (port, _, _):
            client = RespClient.from_url(f"redis://:nope@127.0.0.1:{port}")
            with pytest.raises(RedisUnavailable, match="WRONGPASS"):
                await client.set_nx_ex(b"k", b"1", 7)
            await client.aclose()

    run(go())


def test_calls_queued_behind_a_failed_connection_fail_with_it(run):
    async def script(cmd: list[bytes], writer: asyncio.StreamWriter) -> None:
        return  # accepts the connection, never answers AUTH

    async def go() -> tuple[float, list[object]]:
        async with scripted(script) as (port, _, _):
            client = RespClient.from_url(f"redis://:pw@127.0.0.1:{port}", timeout=0.3)
            started = time.monotonic()
            results = await asyncio.gather(*(client.set_nx_ex(b"k%d" % i, b"1", 5) for i in range(5)),
                                           return_exceptions=True)
            elapsed = time.monotonic() - started
            await client.aclose()
            return elapsed, results

    elapsed, results = run(go())
    assert all(isinstance(r, RedisUnavailable) for r in results)
    assert elapsed < 1.0  # one timeout for all five, not five in turn (1.5 s)


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


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "unix:///run/redis.sock", "redis://", "redis://h/x"])
def test_unsupported_urls_are_refused(url):
    with pytest.raises(ValueError):
        RespClient.from_url(url)


def test_command_encoding():
    assert command(b"SET", b"k", b"") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
