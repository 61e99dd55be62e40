"""The resident web wallet (wallet_sdk/web) in Debian's Chromium in mobile emulation, against real services.

One stack per module (chain, issuers, verifier, as e2e_world starts them, the issuers accredited under their
URLs as ``civicpass up`` does) plus the wallet's own server (civicpass.wallet_web with the chain's trust).
The tests run in file order and share one browser profile: receive by link and transaction code, show a QR
that the test photographs, decodes with zxing-cpp and posts to POST /v1/verify (verified, then replayed), go
offline and reload (the service worker opens the app, and the next QR verifies), refill by refresh (on
request, and by itself when a showing leaves few copies), answer OpenID4VP requests (GET + direct_post,
POST + direct_post.jwt) and decline one, see a suspension and then a revocation, and move the credentials to
a fresh profile through an export file. A second browser with Chromium's fake camera playing a video of the
clerk's offer QR receives through the camera; the manifest, the English toggle and the 360-wide layout are
checked; an issuer key set (JWT VC Issuer Metadata) that disagrees with the chain makes the wallet keep nothing.
A phone of its own, with Playwright's clock, counts wrong PINs and waits longer after each beyond the free ones.
Phones whose platform authenticator is Chromium's virtual one (CDP WebAuthn, on ``localhost``: WebAuthn refuses
IP addresses) turn on passkey unlock with the PIN and open with it (WebAuthn PRF), during a PIN wait too; a wrap
it does not open and a failed user verification are refused and the PIN still opens; turning it off removes its
wrap; an authenticator without PRF, a page on an IP address and a browser with no platform authenticator get the
reason instead of the option.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_world import RESIDENT, RESIDENT_CLAIMS, Stack
from support import CHROMIUM_FLAGS, serve_app

pytestmark = [pytest.mark.chain, pytest.mark.chromium, pytest.mark.slow]
PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "ko-KR"}
PIN = "246810"


class UrlStack(Stack):
    """Issuers accredited under their base URLs, as ``civicpass up`` does: their ``iss`` is an HTTP URL, so they
    publish JWT VC Issuer Metadata (SD-JWT VC §3.5), which the wallet checks beside the chain."""

    def accredit(self) -> None:
        from e2e_world import ISSUERS

        from contracts import wait_all

        _, (trust, _, _) = self.contracts()
        admin = self.admin()
        wait_all([trust.accredit_issuer(self.account(role)["address"], identifier=self.urls[name], name=f"e2e {name}",
                                        credential_types=types, sender=admin)
                  for name, (role, types) in ISSUERS.items()])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = UrlStack(tmp_path_factory.mktemp("web-wallet"))
    try:
        yield s.start()
    finally:
        s.close()


@pytest.fixture(scope="module")
def wallet_url(stack: Stack, node_modules: Path) -> Iterator[str]:
    from civicpass.wallet_web import DIST, ChainTrust, create_wallet_app

    if not (DIST / "app.js").is_file():
        pytest.fail("the web wallet is not built: scripts/_setup.sh builds it (node wallet_sdk/web/build.mjs)")
    with serve_app(lambda _: create_wallet_app(DIST, ChainTrust(stack.deployment))) as url:
        yield f"{url}/"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    b = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
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
    assert phone.locator(".key-route").count() == 1  # the issuer's published keys agree with the chain


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


def test_refill_by_refresh_brings_a_new_batch_whose_qr_verifies(stack: Stack, phone: Any) -> None:
    assert "남은 1회용 QR: 8개" in phone.locator(".card").first.inner_text()
    phone.click(".refill")
    phone.wait_for_selector(".card .copies:has-text('남은 1회용 QR: 10개')", timeout=60_000)
    phone.click(".show-qr")
    assert stack.verify(decode_qr(phone), "resident-basic")["verified"] is True
    phone.click("#close-qr")


def test_refill_by_itself_when_a_showing_leaves_few_copies(phone: Any) -> None:
    def left() -> int:
        text = phone.locator(".card .copies").first.inner_text()
        return int(re.search(r"(\d+)개", text).group(1))  # type: ignore[union-attr]

    assert left() == 9
    while left() > 4:
        phone.click(".show-qr")
        phone.wait_for_selector("#qr[data-text]")
        phone.click("#close-qr")
    phone.click(".show-qr")  # this showing leaves 3: the wallet fetches the next batch meanwhile
    phone.wait_for_selector("#qr[data-text]")
    phone.click("#close-qr")
    phone.wait_for_selector(".card .copies:has-text('남은 1회용 QR: 10개')", timeout=60_000)


def _request(stack: Stack, **options: str) -> dict[str, Any]:
    r = stack.http.post(f"{stack.urls['verifier']}/v1/requests", json={"policy": "resident-basic", **options})
    assert r.status_code in (200, 201), r.text
    got: dict[str, Any] = r.json()
    return got


def _outcome(stack: Stack, request_id: str) -> dict[str, Any]:
    from e2e_world import eventually

    def done() -> dict[str, Any] | None:
        state: dict[str, Any] = stack.http.get(f"{stack.urls['verifier']}/v1/requests/{request_id}").json()
        return state if state["status"] in ("done", "error") else None

    return eventually(done, "the verifier's verdict", 30)


@pytest.mark.parametrize("options", [{}, {"request_uri_method": "post", "response_mode": "direct_post.jwt"}],
                         ids=["get-direct_post", "post-direct_post.jwt"])
def test_openid4vp_request_answered_after_consent(stack: Stack, phone: Any, options: dict[str, str]) -> None:
    req = _request(stack, **options)
    phone.evaluate("uri => { location.hash = 'request=' + encodeURIComponent(uri) }", req["uri"])
    phone.wait_for_selector("#accept")
    who = phone.locator("#verifier").inner_text()
    assert "civicpass verifier" in who and "did:key:" in who  # the name from its metadata, and the DID
    asked = phone.locator("#claims").inner_text()
    assert "해운대구" in asked and "Kim Minji" not in asked  # exactly the policy's claims, not the name
    phone.click("#accept")
    phone.wait_for_selector("#outcome:not(:empty)")
    result = _outcome(stack, req["id"])
    assert result["status"] == "done" and result["result"]["verified"] is True, result
    disclosed = json.dumps(result["result"]["claims"], ensure_ascii=False)
    assert "해운대구" in disclosed and "Kim Minji" not in disclosed  # the asked claims, and only those
    phone.click("text=뒤로")


def test_openid4vp_decline_tells_the_verifier(stack: Stack, phone: Any) -> None:
    req = _request(stack)
    phone.evaluate("uri => { location.hash = 'request=' + encodeURIComponent(uri) }", req["uri"])
    phone.click("#decline")
    phone.wait_for_selector("#outcome:not(:empty)", timeout=30_000)
    assert "거절" in phone.locator("#outcome").inner_text()
    result = _outcome(stack, req["id"])
    assert result["status"] == "error" and result["result"]["error"] == "access_denied", result
    phone.click("text=뒤로")


def test_suspension_then_revocation_are_shown(stack: Stack, phone: Any) -> None:
    from e2e_world import eventually

    ids = stack.credential_ids("cityhall", RESIDENT)
    assert len(ids) == 1
    (cid,) = ids

    def shown(status: str) -> bool | None:
        phone.click(".check-status")
        phone.wait_for_selector(".card .status")
        return phone.locator(".card .status").first.get_attribute("data-status") == status or None

    for action, status, text in (("suspend", "suspended", "일시 정지됨"), ("revoke", "revoked", "취소됨")):
        r = stack.admin_call("cityhall", "operator", "POST", f"/v1/credentials/{cid}/{action}")
        assert r.status_code in (200, 201), r.text
        eventually(lambda status=status: shown(status), f"the wallet showing {status}", 60, 1.0)
        assert phone.locator(".card .status").first.inner_text() == text
    assert phone.locator(".show-qr").first.is_disabled()
    assert phone.locator(".refill").count() == 0  # a revoked credential is not refilled


def _new_wallet(page: Any) -> None:
    page.wait_for_selector("#create")
    page.fill("#pin", PIN)
    page.fill("#pin2", PIN)
    page.click("#create")
    page.wait_for_selector("#go-receive")


def test_export_imported_in_a_fresh_profile_shows_the_same_credentials(
        browser: Any, phone: Any, wallet_url: str, tmp_path: Path) -> None:
    before = phone.locator(".card h2").all_inner_texts()
    phone.click("#go-backup")
    phone.fill("#export-pass", "correct horse battery")
    with phone.expect_download() as download:
        phone.click("#export")
    exported = tmp_path / "wallet.civicpass"
    download.value.save_as(exported)
    assert b"Kim Minji" not in exported.read_bytes()  # sealed

    context = browser.new_context(**PHONE)
    try:
        fresh = context.new_page()
        fresh.goto(wallet_url)
        _new_wallet(fresh)
        fresh.click("#go-backup")
        fresh.set_input_files("#import-file", str(exported))
        fresh.fill("#import-pass", "wrong passphrase")
        fresh.click("#import")
        fresh.locator("#error").wait_for(state="visible")
        assert "암호가 다릅니다" in fresh.locator("#error").inner_text()
        fresh.fill("#import-pass", "correct horse battery")
        fresh.click("#import")
        fresh.wait_for_selector("#backup-msg:not(:empty)")
        assert "1개 증명서를 가져왔습니다" in fresh.locator("#backup-msg").inner_text()
        fresh.click("text=뒤로")
        assert fresh.locator(".card h2").all_inner_texts() == before
        assert "Kim Minji" in fresh.locator(".card").first.inner_text()
    finally:
        context.close()


def _y4m(png: bytes, path: Path, frames: int = 10) -> Path:
    """A short 640x480 YUV4MPEG2 video of the image, for Chromium's --use-file-for-fake-video-capture."""
    from PIL import Image

    canvas = Image.new("L", (640, 480), 255)
    qr = Image.open(io.BytesIO(png)).convert("L")
    qr.thumbnail((440, 440))
    canvas.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    chroma = bytes([128]) * (320 * 240)
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n" + canvas.tobytes() + chroma + chroma)
    return path


def test_receive_through_the_camera(stack: Stack, playwright: Any, chromium_path: str, wallet_url: str,
                                    tmp_path: Path) -> None:
    import base64

    from playwright.sync_api import expect

    offer = stack.offer("cityhall", RESIDENT, RESIDENT_CLAIMS)
    video = _y4m(base64.b64decode(offer["qr_png_base64"]), tmp_path / "offer.y4m")
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}"]
    b = playwright.chromium.launch(executable_path=chromium_path, args=[*CHROMIUM_FLAGS, *camera])
    try:
        context = b.new_context(**PHONE)
        context.grant_permissions(["camera"])
        page = context.new_page()
        page.goto(wallet_url)
        _new_wallet(page)
        page.click("#go-scan")
        expect(page.locator("#offer")).to_have_value(re.compile(r"^openid-credential-offer://"), timeout=30_000)
        page.fill("#tx-code", offer["tx_code"])
        page.click("#receive")
        page.wait_for_selector(".card", timeout=60_000)
        assert "해운대구" in page.locator(".card").first.inner_text()
    finally:
        b.close()


def test_installable_english_on_a_toggle_and_readable_at_360_wide(phone: Any, wallet_url: str) -> None:
    manifest = phone.request.get(f"{wallet_url}manifest.webmanifest").json()
    assert manifest["name"].startswith("시민패스") and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert phone.request.get(f"{wallet_url}{icon['src']}").ok, icon
    assert phone.evaluate("navigator.serviceWorker.controller !== null")  # it works offline (tested above)
    phone.goto(wallet_url)
    unlock(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.click("#lang")
    assert phone.locator("#go-receive").inner_text() == "Receive a credential"
    assert phone.locator(".card .status").first.inner_text() in ("Valid", "Revoked", "Suspended", "Status not checked")
    phone.click("#go-receive")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.fill("#offer", "not a link")
    phone.click("#receive")
    phone.locator("#error").wait_for(state="visible")
    assert "Paste the whole link" in phone.locator("#error").inner_text()  # a sentence with what to do next
    phone.click("#lang")
    assert phone.locator("#receive").inner_text() == "받기"
    phone.click("text=뒤로")


def test_published_keys_that_disagree_with_the_chain_are_refused(stack: Stack, phone: Any) -> None:
    from credcore.keys import SigningKey

    other = {**SigningKey.generate().public_key.to_jwk(), "kid": "not-the-signing-key"}
    iss = stack.urls["cityhall"]
    phone.route("**/.well-known/jwt-vc-issuer**",
                lambda route: route.fulfill(json={"issuer": iss, "jwks": {"keys": [other]}}))
    try:
        phone.click("#go-receive")
        offer = stack.offer("cityhall", RESIDENT, RESIDENT_CLAIMS)
        phone.fill("#offer", offer["credential_offer_uri"])
        phone.fill("#tx-code", offer["tx_code"])
        phone.click("#receive")
        phone.locator("#error").wait_for(state="visible", timeout=60_000)
        assert "저장하지 않았습니다" in phone.locator("#error").inner_text()
    finally:
        phone.unroute("**/.well-known/jwt-vc-issuer**")
    phone.click("text=뒤로")
    assert phone.locator(".card").count() == 1  # nothing kept (the held, revoked card only)



def test_wrong_pins_make_the_wallet_wait_longer_each_time_and_a_reload_does_not_reset_the_count(
        browser: Any, wallet_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE)  # a phone of its own: its clock is moved by the test
    try:
        page = context.new_page()
        page.clock.install()
        page.goto(wallet_url)
        page.fill("#pin", PIN)
        page.fill("#pin2", PIN)
        page.click("#create")
        page.wait_for_selector("#go-receive")

        def number(page: Any) -> int:
            """The number in the refusal's sentence: tries left before a wait, or seconds to wait."""
            found = re.search(r"\d+", page.locator("#error").inner_text())
            assert found, page.locator("#error").inner_text()
            return int(found.group())

        def refused(pin: str) -> tuple[int, bool]:
            """Try ``pin``: the number its refusal names, and whether the unlock button is off."""
            page.fill("#pin", pin)
            page.click("#unlock")
            page.locator("#error").wait_for(state="visible")
            return number(page), page.is_disabled("#unlock")

        page.reload()
        assert [refused("000000") for _ in range(4)] == [(4, False), (3, False), (2, False), (1, False)]
        assert refused("111111") == (30, True)  # the fifth wrong PIN in a row: a wait, the button off
        page.reload()  # a new page load still waits, and still refuses to take the right PIN meanwhile
        # Locator assertions: wait_for_function's later polls eval a string, which the page's CSP refuses
        expect(page.locator("#unlock")).to_be_disabled()
        assert 25 <= number(page) <= 30
        page.clock.fast_forward("00:31")
        expect(page.locator("#unlock")).to_be_enabled()
        assert refused("222222") == (60, True)  # the next wrong one doubles the wait
        page.clock.fast_forward("01:01")
        expect(page.locator("#unlock")).to_be_enabled()
        page.fill("#pin", PIN)
        page.click("#unlock")
        page.wait_for_selector("#go-receive")
        page.reload()  # the right PIN cleared the count
        assert refused("000000") == (4, False)
    finally:
        context.close()


# --- passkey unlock (WebAuthn PRF), with Chromium's virtual authenticator -----------------------------------
AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
                 "isUserVerified": True, "hasPrf": True, "automaticPresenceSimulation": True}


class PasskeyPhone:
    """A phone of its own whose platform authenticator is Chromium's virtual one (CDP's WebAuthn domain)."""

    def __init__(self, browser: Any, wallet_url: str, **authenticator: bool) -> None:
        self.context = browser.new_context(**PHONE)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: print(f"[console] {m.type}: {m.text}"))
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        added = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {**AUTHENTICATOR, **authenticator}})
        self.authenticator = added["authenticatorId"]
        # WebAuthn takes a domain as the relying party, never an IP address
        self.page.goto(wallet_url.replace("//127.0.0.1:", "//localhost:"))

    def passkeys(self) -> int:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})
        return len(found["credentials"])

    def user_verified(self, verified: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.authenticator, "isUserVerified": verified})

    def lock_record(self) -> dict[str, Any]:
        """The lock meta record, its byte fields as lengths."""
        got: dict[str, Any] = self.page.evaluate("""() => new Promise((resolve, reject) => {
            const open = indexedDB.open('civicpass-wallet')
            open.onerror = () => reject(open.error)
            open.onsuccess = () => {
              const get = open.result.transaction('meta').objectStore('meta').get('lock')
              get.onsuccess = () => {
                const lengths = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) =>
                  [k, v instanceof Uint8Array ? v.length : v && typeof v === 'object' ? lengths(v) : v]))
                open.result.close()
                resolve(lengths(get.result))
              }
            }
          })""")
        return got

    def close(self) -> None:
        self.context.close()


def _turn_on_passkey(page: Any) -> None:
    page.click("#go-lock")
    page.fill("#passkey-pin", PIN)
    page.click("#passkey-on")


@pytest.fixture(scope="module")
def passkey_phone(stack: Stack, browser: Any, wallet_url: str) -> Iterator[PasskeyPhone]:
    """A resident who holds a credential and turns on passkey unlock; the passkey tests below share it in order."""
    from playwright.sync_api import expect

    phone = PasskeyPhone(browser, wallet_url)
    try:
        page = phone.page
        _new_wallet(page)
        page.click("#go-receive")
        offer = stack.offer("cityhall", RESIDENT, RESIDENT_CLAIMS)
        page.fill("#offer", offer["credential_offer_uri"])
        page.fill("#tx-code", offer["tx_code"])
        page.click("#receive")
        expect(page.locator(".card")).to_contain_text("Kim Minji", timeout=60_000)
        yield phone
    finally:
        phone.close()


def test_passkey_turned_on_with_the_pin_opens_the_wallet_after_a_reload(passkey_phone: PasskeyPhone) -> None:
    from playwright.sync_api import expect

    page = passkey_phone.page
    page.reload()
    expect(page.locator("#unlock")).to_be_visible()
    expect(page.locator("#unlock-passkey")).to_be_hidden()  # not offered before it is turned on
    unlock(page)
    _turn_on_passkey(page)
    expect(page.locator("#passkey-state")).to_have_text("passkey로 열기가 켜져 있습니다.")
    assert passkey_phone.passkeys() == 1
    lock = passkey_phone.lock_record()
    assert lock["v"] == 2 and lock["wrapped"] == 40  # the PIN wrap stays
    assert lock["passkey"]["wrapped"] == 40 and lock["passkey"]["salt"] == 32  # AES-KW of a 256-bit key
    page.reload()
    expect(page.locator("#unlock-passkey")).to_have_text("passkey로 열기")
    page.click("#unlock-passkey")
    expect(page.locator(".card").first).to_contain_text("Kim Minji")
    expect(page.locator("#go-receive")).to_be_visible()


def test_a_passkey_opens_during_a_pin_wait_and_clears_the_count(passkey_phone: PasskeyPhone) -> None:
    from playwright.sync_api import expect

    page = passkey_phone.page
    page.reload()
    for _ in range(5):
        page.fill("#pin", "000000")
        page.click("#unlock")
        expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#unlock")).to_be_disabled()  # the fifth wrong PIN: a wait
    page.click("#unlock-passkey")
    expect(page.locator("#go-receive")).to_be_visible()
    page.reload()
    page.fill("#pin", "000000")
    page.click("#unlock")
    expect(page.locator("#error")).to_contain_text("4번 더 틀리면")  # the count starts again
    unlock(page)


def test_a_wrap_the_passkey_does_not_open_is_refused_clearly_and_the_pin_still_opens(
        passkey_phone: PasskeyPhone) -> None:
    from playwright.sync_api import expect

    page = passkey_phone.page
    flip = """(bit) => new Promise((resolve, reject) => {
        const open = indexedDB.open('civicpass-wallet')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const store = open.result.transaction('meta', 'readwrite').objectStore('meta')
          const get = store.get('lock')
          get.onsuccess = () => {
            get.result.passkey.wrapped[0] ^= bit
            store.put(get.result, 'lock').onsuccess = () => { open.result.close(); resolve(null) }
          }
        }
      })"""
    page.evaluate(flip, 1)  # one bit of the passkey's wrap changed
    try:
        page.reload()
        page.click("#unlock-passkey")
        expect(page.locator("#error")).to_contain_text("이 passkey로는 지갑이 열리지 않습니다")
        expect(page.locator("#go-receive")).to_have_count(0)
        unlock(page)
    finally:
        page.evaluate(flip, 1)
    page.reload()
    page.click("#unlock-passkey")
    expect(page.locator("#go-receive")).to_be_visible()


def test_a_failed_user_verification_is_refused_clearly_and_the_pin_still_opens(passkey_phone: PasskeyPhone) -> None:
    from playwright.sync_api import expect

    page = passkey_phone.page
    page.reload()
    # Last of the tests that open with the passkey: once user verification fails, Chromium's virtual authenticator
    # refuses every later assertion, as a real one that has blocked its built-in verification does.
    passkey_phone.user_verified(False)
    try:
        page.click("#unlock-passkey")
        expect(page.locator("#error")).to_contain_text("본인 확인에 실패했습니다")
        expect(page.locator("#go-receive")).to_have_count(0)
    finally:
        passkey_phone.user_verified(True)
    unlock(page)
    expect(page.locator(".card").first).to_contain_text("Kim Minji")


def test_turning_passkey_unlock_off_removes_its_wrap(passkey_phone: PasskeyPhone) -> None:
    from playwright.sync_api import expect

    page = passkey_phone.page
    page.click("#go-lock")
    page.click("#passkey-off")
    expect(page.locator("#passkey-on")).to_be_visible()
    lock = passkey_phone.lock_record()
    assert "passkey" not in lock and lock["v"] == 1 and lock["wrapped"] == 40
    page.reload()
    expect(page.locator("#unlock")).to_be_visible()
    expect(page.locator("#unlock-passkey")).to_be_hidden()
    unlock(page)


def test_an_authenticator_without_prf_is_explained_and_nothing_is_stored(browser: Any, wallet_url: str) -> None:
    from playwright.sync_api import expect

    phone = PasskeyPhone(browser, wallet_url, hasPrf=False)
    try:
        page = phone.page
        _new_wallet(page)
        _turn_on_passkey(page)
        expect(page.locator("#error")).to_contain_text("PRF")
        expect(page.locator("#error")).to_contain_text("PIN으로 여세요")
        assert "passkey" not in phone.lock_record()
        page.reload()
        expect(page.locator("#unlock")).to_be_visible()
        expect(page.locator("#unlock-passkey")).to_be_hidden()
    finally:
        phone.close()


def test_where_no_passkey_can_be_made_the_lock_settings_say_why(browser: Any, wallet_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        for url, why in ((wallet_url, "IP 주소가 아닌 도메인 이름"),
                         (wallet_url.replace("//127.0.0.1:", "//localhost:"), "passkey를 둘 잠금")):
            page.goto(url)  # by IP address; then by name, but with no platform authenticator
            _new_wallet(page)
            page.click("#go-lock")
            expect(page.locator("#passkey-state")).to_contain_text(why)
            expect(page.locator("#passkey-on")).to_have_count(0)
    finally:
        context.close()
