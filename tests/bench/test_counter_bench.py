"""Counter page budget (issue #5): from a scan to the verdict on screen under 300 ms.

A live verifier (its own trust snapshot, no chain) serves ``/counter`` to Debian's Chromium, driven by
Playwright. Each round types a new resident's CP1 QR text into the scanner input, as a USB keyboard-wedge
scanner does, and presses Enter. The page times itself from the key to the verdict drawn (``data-ms`` on the
verdict: the request, the answer and the drawing); that median is the budget. The automation's own figure (key
press sent to the verdict seen by a selector wait) adds the browser-automation round trips, and is reported
beside it. In an ordinary test run a few rounds run as a smoke test and only the verdicts are checked.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import CHROMIUM_FLAGS, serve_app

from tests.bench.budget import record

pytestmark = [pytest.mark.chromium, pytest.mark.slow]
BUDGET_MS = 300.0
ROUNDS, SMOKE_ROUNDS = 30, 3


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from tests.service.verifier.verifier_world import World
    from verifier.api.app import create_app
    from verifier.service import StaticTrust
    from verifier.settings import VerifierSettings

    world = World()

    def make(url: str) -> Any:
        settings = VerifierSettings(environment="test", data_dir=tmp_path_factory.mktemp("counter-bench"),
                                    public_url=url, audience="https://verifier.test")
        return create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))

    with serve_app(make) as url:
        yield f"{url}/counter", world


def test_counter_scan_to_verdict(counter: tuple[str, Any], benchmark: Any, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    url, world = counter
    rounds = SMOKE_ROUNDS if benchmark.disabled else ROUNDS
    page_ms: list[float] = []
    wall_ms: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#policy option[value='age-over-19']", state="attached")
            page.select_option("#policy", "age-over-19")
            verdict = page.locator("#verdict")

            def scan() -> None:
                page.locator("#scan").fill(world.show(world.cp1()))  # a new resident each round: no replay
                started = time.perf_counter()
                page.keyboard.press("Enter")
                page.wait_for_selector("#verdict:not([data-state='busy'])")
                wall_ms.append((time.perf_counter() - started) * 1000)
                assert verdict.get_attribute("data-state") == "ok", page.locator("#reason").inner_text()
                page_ms.append(float(verdict.get_attribute("data-ms") or "nan"))

            scan()  # warm-up: the first request opens the connection
            page_ms.clear()
            wall_ms.clear()
            benchmark.pedantic(scan, rounds=rounds, iterations=1)
        finally:
            browser.close()

    median_page = round(statistics.median(page_ms), 1)
    benchmark.extra_info.update(page_ms=page_ms, wall_ms=[round(x, 1) for x in wall_ms])
    ok = record(benchmark, issue=5, what="counter page, keyboard-wedge scan to verdict on screen, median",
                value=median_page, op="<", target=BUDGET_MS, unit="ms", asserted=not benchmark.disabled)
    record(benchmark, issue=5, what="the same, worst of the rounds", value=round(max(page_ms), 1), op="<",
           target=BUDGET_MS, unit="ms", asserted=False, note=f"{len(page_ms)} rounds")
    record(benchmark, issue=5, what="the same, seen by the browser automation, median",
           value=round(statistics.median(wall_ms), 1), op="<", target=BUDGET_MS, unit="ms", asserted=False,
           note="adds the automation's round trips")
    if not benchmark.disabled:
        assert ok, page_ms
