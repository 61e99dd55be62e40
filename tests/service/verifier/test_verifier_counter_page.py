"""The counter page in Debian's headless Chromium, driven by Playwright, against a live verifier.

Paths covered: the USB keyboard-wedge scanner (typing into the focused input, then Enter), a refusal with
its bilingual reason, "show a request QR" answered by a wallet over OpenID4VP (verdict arrives by
server-sent events), and the camera, with Chromium's fake capture device playing a generated .y4m video
of a QR code (decoded in the page by the vendored jsQR, as Chromium on Linux has no BarcodeDetector).
Every page runs under the counter's Content-Security-Policy and must not trip it. The 300 ms budget from scan
to verdict on screen is measured by tests/bench/test_counter_bench.py.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import CHROMIUM_FLAGS, serve_app
from verifier_world import World, qr_png

from credcore import jws
from verifier.api.app import create_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[str, World]]:
    world = World()

    def make(url: str) -> Any:
        settings = VerifierSettings(environment="test", data_dir=tmp_path_factory.mktemp("counter"), public_url=url,
                                    audience="https://verifier.test")
        return create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))

    with serve_app(make) as url:
        yield url, world


def y4m_of(png: bytes, path: Path, frames: int = 10) -> Path:
    """A short 640x480 YUV4MPEG2 (4:2:0) video showing the image, for --use-file-for-fake-video-capture."""
    from PIL import Image

    canvas = Image.new("L", (640, 480), 255)
    qr = Image.open(io.BytesIO(png)).convert("L")
    qr.thumbnail((440, 440))
    canvas.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    luma = canvas.tobytes()
    chroma = bytes([128]) * (320 * 240)
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n" + luma + chroma + chroma)
    return path


def _browser(playwright, chromium_path: str, extra: list[str] = ()):  # type: ignore[assignment]
    return playwright.chromium.launch(executable_path=chromium_path, args=[*CHROMIUM_FLAGS, *extra])


def _watch_csp(page) -> list[str]:
    """The page's Content-Security-Policy violations (Chromium reports each on the console), as they come."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def scan(page, text: str) -> None:
    """Type ``text`` into the focused input as a keyboard-wedge scanner would, press Enter, wait for the verdict."""
    from playwright.sync_api import expect

    page.locator("#scan").fill(text)  # a scanner types a burst of characters; fill() is that burst
    page.keyboard.press("Enter")  # the page marks the verdict busy before the key's handler returns
    expect(page.locator("#verdict")).to_have_attribute("data-state", re.compile(r"^(ok|bad)$"))


class _Inline(HTMLParser):
    """Collects what a strict CSP would refuse in a page: inline scripts, style elements and attributes, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_with_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            self._script_with_src = "src" in names
            if not self._script_with_src:
                self.found.append("<script> without src")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script" and self._script_with_src and data.strip():
            self.found.append("script text beside src")


def test_counter_page_is_served_under_a_strict_csp_and_has_nothing_inline(live):
    url, _ = live
    r = httpx.get(f"{url}/counter")
    assert r.status_code == 200
    csp = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split("; ")}
    assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert r.headers["x-content-type-options"] == "nosniff"
    inline = _Inline()
    inline.feed(r.text)
    assert inline.found == []
    for asset in ("/static/counter.js", "/static/counter.css", "/static/vendor/jsQR.js"):
        assert httpx.get(f"{url}{asset}").status_code == 200, asset


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def test_keyboard_wedge_scan_shows_green_then_red_on_replay(live, chromium_path, playwright_instance):
    url, world = live
    browser = _browser(playwright_instance, chromium_path)
    page = browser.new_page()
    refused = _watch_csp(page)
    page.goto(f"{url}/counter")
    page.wait_for_selector("#policy option[value='age-over-19']", state="attached")
    page.select_option("#policy", "age-over-19")
    assert page.evaluate("document.activeElement.id") == "scan"
    text = world.show(world.cp1())
    scan(page, text)
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "ok"
    assert "확인됨" in verdict.inner_text() and "Verified" in verdict.inner_text()
    assert "만 19세 이상" in page.locator("#claims").inner_text()
    assert int(verdict.get_attribute("data-ms")) >= 0  # the page's own scan-to-verdict time, for the benchmark

    assert page.evaluate("document.activeElement.id") == "scan"  # ready for the next scan
    scan(page, text)
    assert verdict.get_attribute("data-state") == "bad"
    reason = page.locator("#reason").inner_text()
    assert "replayed" in reason and "이미 사용된" in reason
    assert refused == []
    browser.close()


def test_policy_refusal_shows_the_policy_reason(live, chromium_path, playwright_instance):
    url, world = live
    browser = _browser(playwright_instance, chromium_path)
    page = browser.new_page()
    refused = _watch_csp(page)
    page.goto(f"{url}/counter")
    page.wait_for_selector("#policy option[value='grant-traditional-market']", state="attached")
    page.select_option("#policy", "grant-traditional-market")
    scan(page, world.show(world.cp1()))  # a resident credential where a merchant one is needed
    assert page.locator("#verdict").get_attribute("data-state") == "bad"
    assert "credential_type_not_accepted" in page.locator("#reason").inner_text()
    assert refused == []
    browser.close()


def test_request_qr_is_answered_by_a_wallet(live, chromium_path, playwright_instance):
    url, world = live
    browser = _browser(playwright_instance, chromium_path)
    page = browser.new_page()
    refused = _watch_csp(page)
    page.goto(f"{url}/counter")
    page.wait_for_selector("#policy option[value='age-over-19']", state="attached")
    page.select_option("#policy", "age-over-19")
    page.click("#request-btn")
    page.wait_for_selector("#request-qr[src^='data:image/png']")
    uri = page.locator("#request-qr").get_attribute("data-uri")
    request_uri = httpx.QueryParams(uri.split("?", 1)[1])["request_uri"]
    ro = jws.parse(httpx.get(request_uri).text, typ="oauth-authz-req+jwt").payload
    vp = world.present(world.credential(), disclose=("age_over_19",), audience=ro["client_id"], nonce=ro["nonce"])
    r = httpx.post(ro["response_uri"], data={"vp_token": json.dumps({"cred": [vp]}), "state": ro["state"]})
    assert r.status_code == 200
    page.wait_for_selector("#verdict[data-state='ok']", timeout=5_000)
    assert "Verified" in page.locator("#verdict").inner_text()
    assert refused == []  # the request QR is a data: image, the verdict comes by server-sent events
    browser.close()


def test_camera_path_decodes_a_qr_video(live, chromium_path, playwright_instance, tmp_path):
    url, world = live
    video = y4m_of(qr_png(world.show(world.cp1()), scale=4), tmp_path / "qr.y4m")
    browser = _browser(playwright_instance, chromium_path, ["--use-fake-device-for-media-stream",
                                                             "--use-fake-ui-for-media-stream",
                                                             f"--use-file-for-fake-video-capture={video}"])
    context = browser.new_context()
    context.grant_permissions(["camera"], origin=url)
    page = context.new_page()
    refused = _watch_csp(page)
    page.goto(f"{url}/counter")
    page.wait_for_selector("#policy option[value='age-over-19']", state="attached")
    page.select_option("#policy", "age-over-19")
    page.click("#camera-btn")
    page.wait_for_selector("#verdict[data-state='ok']", timeout=10_000)
    assert page.locator("#camera").get_attribute("data-mode") in {"jsQR", "BarcodeDetector"}
    assert "Verified" in page.locator("#verdict").inner_text()
    assert refused == []  # the camera's stream plays under media-src
    browser.close()
