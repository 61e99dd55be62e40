"""The resident web wallet (wallet_sdk/web) in Debian's Chromium in mobile emulation, against real services.

One stack per module (chain, issuers, verifier, as e2e_world starts them) plus the wallet's own server
(civicpass.wallet_web with the chain's trust). The tests run in file order and share one browser profile:
receive by link and transaction code, show a QR that the test photographs, decodes with zxing-cpp and
posts to POST /v1/verify (verified, then replayed), go offline and reload (the service worker opens the
app, and the next QR verifies), answer and decline OpenID4VP requests, see a revocation, and move the
credentials to a fresh profile through an export file.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from e2e_world import RESIDENT, RESIDENT_CLAIMS, Stack

from civicpass._up_layout import free_port

pytestmark = [pytest.mark.chain, pytest.mark.chromium, pytest.mark.slow]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "ko-KR"}
PIN = "246810"


@pytest.fixture(scope="module")
def wallet_url(stack: Stack, node_modules: Path) -> Iterator[str]:
    from civicpass.wallet_web import DIST, ChainTrust, create_wallet_app

    if not (DIST / "app.js").is_file():
        pytest.fail("the web wallet is not built: scripts/_setup.sh builds it (node wallet_sdk/web/build.mjs)")
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(create_wallet_app(DIST, ChainTrust(stack.deployment)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def phone(browser: Any, wallet_url: str) -> Iterator[Any]:
    """One resident's phone: a browser context the tests of this module share, in file order."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.on("console", lambda m: print(f"[console] {m.type}: {m.text}"))
    page.goto(wallet_url)
    yield page
    context.close()


def decode_qr(page: Any) -> str:
    import zxingcpp
    from PIL import Image

    page.wait_for_selector("#qr[data-text]")
    shot = page.locator("#qr").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert found, "no QR code in the screenshot"
    return str(found[0].text)


def unlock(page: Any) -> None:
    page.fill("#pin", PIN)
    page.click("#unlock")
    page.wait_for_selector("#go-receive")


def test_receive_by_link_and_transaction_code(stack: Stack, phone: Any) -> None:
    phone.wait_for_selector("#create")
    phone.fill("#pin", PIN)
    phone.fill("#pin2", PIN)
    phone.click("#create")
    phone.click("#go-receive")
    offer = stack.offer("cityhall", RESIDENT, RESIDENT_CLAIMS)
    phone.fill("#offer", offer["credential_offer_uri"])
    phone.fill("#tx-code", "0" * len(offer["tx_code"]) if offer["tx_code"] != "0" * len(offer["tx_code"]) else "1")
    phone.click("#receive")
    phone.locator("#error").wait_for(state="visible", timeout=30_000)
    assert "발급 번호가 맞지 않거나" in phone.locator("#error").inner_text()
    phone.fill("#tx-code", offer["tx_code"])
    phone.click("#receive")
    phone.wait_for_selector(".card", timeout=60_000)
    card = phone.locator(".card").first.inner_text()
    assert "해운대구" in card and "Kim Minji" in card
    assert "남은 1회용 QR: 10개" in card


def test_qr_verifies_once_then_is_replayed(stack: Stack, phone: Any) -> None:
    phone.click(".show-qr")
    text = decode_qr(phone)
    assert text.startswith("CP1:")
    first = stack.verify(text, "resident-basic")
    assert first["verified"] is True, first
    again = stack.verify(text, "resident-basic")
    assert again["verified"] is False and again["code"] == "replayed", again
    phone.click("#close-qr")


def test_offline_reload_opens_and_its_next_qr_verifies(stack: Stack, phone: Any) -> None:
    phone.context.set_offline(True)
    try:
        phone.reload()
        unlock(phone)
        assert phone.locator("#net").inner_text() == "오프라인"
        phone.click(".show-qr")
        text = decode_qr(phone)
    finally:
        phone.context.set_offline(False)
    assert stack.verify(text, "resident-basic")["verified"] is True
    phone.click("#close-qr")
