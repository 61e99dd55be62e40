"""Blocking work stays off the event loop: while one request waits on a slow replay write, a slow PNG render
or a slow insert, the same worker keeps answering others (issue 13 §6)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx

from verifier.api.app import create_app
from verifier.service import StaticTrust


class Gate:
    """Blocks the thread that calls it until the test opens it; records whether the test got there first."""

    def __init__(self) -> None:
        self.entered, self.opened = threading.Event(), threading.Event()
        self.waited_out = False

    def wait(self) -> None:
        self.entered.set()
        # Were this on the event loop, the loop could not run the request that opens the gate.
        self.waited_out = not self.opened.wait(3)


def _while_blocked(app: Any, gate: Gate, slow: Callable[[httpx.AsyncClient], Any]) -> Any:
    async def run() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10) as c:
            task = asyncio.create_task(slow(c))
            while not gate.entered.is_set():
                await asyncio.sleep(0.01)
            other = await c.get("/v1/policies")
            assert other.status_code == 200
            gate.opened.set()
            return await task

    result = asyncio.run(run())
    assert not gate.waited_out, "the other request was not served while the slow one blocked"
    return result


def _app(world: Any, settings: Any) -> Any:
    return create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))


def _block(owner: Any, name: str) -> Gate:
    """Make ``owner.name(...)`` wait on a new gate before it does what it did; returns the gate."""
    gate, call = Gate(), getattr(owner, name)

    def blocked(*args: Any, **kwargs: Any) -> Any:
        gate.wait()
        return call(*args, **kwargs)

    setattr(owner, name, blocked)
    return gate


def test_the_sql_replay_write_of_post_verify_runs_off_the_loop(world, settings):
    app = _app(world, settings)
    gate = _block(app.state.parts.verifier.replay, "first_use")
    body = {"presentation": world.show(world.cp1()), "policy": "age-over-19"}
    r = _while_blocked(app, gate, lambda c: c.post("/v1/verify", json=body))
    assert r.status_code == 200 and r.json()["verified"] is True


def test_the_replay_write_of_post_verify_image_runs_off_the_loop(world, settings):
    from verifier_world import qr_png

    app = _app(world, settings)
    gate = _block(app.state.parts.verifier.replay, "first_use")
    png = qr_png(world.show(world.cp1()))
    r = _while_blocked(app, gate, lambda c: c.post("/v1/verify/image?policy=age-over-19", content=png,
                                                   headers={"content-type": "image/png"}))
    assert r.status_code == 200 and r.json()["verified"] is True


def test_creating_a_presentation_request_runs_off_the_loop(world, settings):
    app = _app(world, settings)
    gate = _block(app.state.parts.requests, "create")
    r = _while_blocked(app, gate, lambda c: c.post("/v1/requests", json={"policy": "age-over-19"}))
    assert r.status_code in (200, 201), r.text
