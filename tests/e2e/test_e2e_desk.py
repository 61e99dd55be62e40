"""The desk in Debian's headless Chromium (Playwright) against the real system: embedded chain, two issuers and
the verifier as processes, people added with ``civicpass issuer users add``. A clerk signs in and out; a form
post without the CSRF token is refused; a clerk issues, the QR on the page (read by zxing-cpp) is redeemed by
a wallet_sdk wallet and the page turns to "received"; the same clerk revokes it and the verifier refuses it; a
500-row CSV with 3 bad rows reports those rows, then issues 497 offers; a clerk cannot open operator pages;
the audit log names who did what. The tests share one system and run in file order."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from urllib.parse import quote, unquote

import pytest
from e2e_world import RESIDENT_CLAIMS, Holder, eventually
from support import CHROMIUM_FLAGS

pytestmark = [pytest.mark.chain, pytest.mark.slow, pytest.mark.chromium]
PASSWORD = "desk-e2e-password"
PEOPLE = {  # username -> (issuer, role, display name, office)
    "kim": ("cityhall", "clerk", "김민지", "해운대구청"),
    "park": ("cityhall", "operator", "박서준", "정보통신과"),
    "han": ("market", "clerk", "한지우", "시장지원센터"),
}


@pytest.fixture(scope="module")
def desk(stack):
    for username, (issuer, role, name, office) in PEOPLE.items():
        done = subprocess.run(
            [sys.executable, "-m", "civicpass", "issuer", "users", "add", username, "--role", role, "--name", name,
             "--office", office, "--data-dir", str(stack.root / issuer), "--password-stdin"],
            input=PASSWORD + "\n", text=True, capture_output=True, env=stack.env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    return stack


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def signed_in(browser, desk, username, **context):
    issuer = PEOPLE[username][0]
    page = browser.new_context(**context).new_page()
    page.goto(f"{desk.urls[issuer]}/desk")
    assert "/desk/signin" in page.url
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#who")
    return page


def test_sign_in_switch_language_and_sign_out(desk, browser):
    page = signed_in(browser, desk, "kim", viewport={"width": 768, "height": 1024})  # a tablet
    assert "김민지" in page.inner_text("#who") and "로그아웃" in page.inner_text("#signout")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    cookie = next(c for c in page.context.cookies() if c["name"] == "civicpass_desk")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#lang-toggle")
    assert page.inner_text("#signout") == "Sign out"
    page.click("#signout")
    page.wait_for_url("**/desk/signin")
    page.goto(f"{desk.urls['cityhall']}/desk/issue")
    assert "/desk/signin" in page.url  # the session is over
    page.context.close()


def test_a_forged_form_post_without_the_csrf_token_is_refused(desk, browser):
    page = signed_in(browser, desk, "kim")
    page.evaluate("""() => {
        const f = document.createElement('form');
        f.method = 'post'; f.action = '/desk/issue/ResidentCredential';
        for (const [k, v] of Object.entries({name: 'Forged', birth_date: '1990-01-01', city: '부산광역시',
                                             district: '중구', resident_since: '2020-01-01'})) {
            const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
    }""")
    page.wait_for_selector("#error")
    assert page.get_attribute("#error", "data-code") == "csrf_refused"
    assert page.get_attribute("#error", "data-status") == "403"
    page.context.close()


def qr_text(page) -> str:
    import base64

    import zxingcpp
    from PIL import Image

    src = page.get_attribute("#offer-qr", "src")
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    (found,) = zxingcpp.read_barcodes(image)
    return str(found.text)


def test_clerk_issues_and_the_page_follows_the_wallet(desk, browser, tmp_path):
    page = signed_in(browser, desk, "kim", viewport={"width": 1280, "height": 900})
    page.click("nav >> text=발급")
    page.click("[data-type=ResidentCredential]")
    page.fill("#f-name", "")
    page.focus("#f-birth_date")  # leaving an empty required field shows its rule at once
    page.wait_for_selector("[data-field=name].invalid")
    assert page.get_attribute("#e-name", "data-rule") == "required"
    assert page.inner_text("#e-name") == "꼭 적어야 합니다"
    claims = {**RESIDENT_CLAIMS, "name": "정하늘"}
    for name, value in claims.items():
        page.fill(f"#f-{name}", value)
    page.click("#issue-submit")
    page.wait_for_selector("#offer")
    assert page.get_attribute("#offer", "data-state") == "waiting"
    tx_code = page.inner_text("#tx-code")
    uri = qr_text(page)
    page.emulate_media(media="print")  # the print view: QR and PIN, no menu or buttons
    assert not page.is_visible("header.top") and not page.is_visible("#print") and page.is_visible("#offer-qr")
    page.emulate_media(media="screen")
    assert uri.startswith("openid-credential-offer://")

    holder = Holder(tmp_path / "resident", desk)
    stored = holder.accept({"credential_offer_uri": uri, "tx_code": tx_code})
    page.wait_for_selector("#offer[data-state=redeemed]", timeout=10_000)
    assert "지갑이 받았습니다" in page.inner_text("#offer-state")
    desk.shared.update({"holder": holder, "stored": stored, "kim": page})


def test_a_revocation_from_the_desk_is_refused_at_the_verifier(desk):
    if "kim" not in desk.shared:
        pytest.skip("needs the credential of the previous test")
    page, holder, stored = desk.shared["kim"], desk.shared["holder"], desk.shared["stored"]
    base = desk.urls["cityhall"]
    refused = page.goto(f"{base}/desk/credentials?field=name&value={quote('정하늘')}")  # the old address
    assert refused.status == 400 and page.get_attribute("#error", "data-code") == "holder_search_in_url"
    assert "정하늘" not in page.content()
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    page.goto(f"{base}/desk/credentials")
    page.select_option("#lookup-form select[name=field]", "name")
    page.fill("#lookup-form input[name=value]", "정하늘")
    with page.expect_response(lambda r: r.url.endswith("/desk/credentials/search")) as searched:
        page.click("#lookup-form button[type=submit]")
    assert searched.value.request.method == "POST" and searched.value.headers["cache-control"] == "no-store"
    visited.append(page.url)
    # The name is in no address the browser asked for or shows (so none in its history or a proxy's log).
    assert visited and not [u for u in visited if "정하늘" in unquote(u)]
    rows = page.locator("#results tbody tr")
    assert rows.count() == 1
    rows.first.locator("a").click()
    page.wait_for_selector("#status-form")
    desk.wait_synced()
    assert desk.verify(holder.qr(stored.id).text, "resident-basic")["verified"] is True
    page.check("input[name=action][value=revoke]")
    page.fill("#reason", "전출 (moved away)")
    page.check("#confirm")
    page.click("#apply")
    page.wait_for_selector("#credential[data-status=revoked]")
    page.wait_for_selector("#credential[data-published=yes]", timeout=20_000)  # reached the chain's status list

    def refused():
        # While the chain has the new list's digest and the issuer still serves the old list (between its two
        # writes), the verifier says status_unknown; it must settle on revoked.
        verdict = desk.verify(holder.qr(stored.id).text, "resident-basic")
        return verdict if verdict["code"] == "revoked" else None

    assert eventually(refused, "revocation seen by the verifier", timeout=15, every=1)["verified"] is False
    assert "전출 (moved away)" in page.inner_text("#history")


def test_a_clerk_cannot_reach_operator_pages(desk, browser):
    page = signed_in(browser, desk, "kim")
    assert page.locator("nav >> text=서명 키").count() == 0
    for path in ("/desk/keys", "/desk/health", "/desk/audit"):
        response = page.goto(f"{desk.urls['cityhall']}{path}")
        assert response.status == 403, path
        assert page.get_attribute("#error", "data-code") == "forbidden"
    page.context.close()


def market_csv(n: int, bad: dict[int, tuple[str, str]]) -> bytes:
    """``n`` merchants; ``bad`` maps a line of the file (the header is line 1) to (column, broken value)."""
    out = io.StringIO()
    w = csv.writer(out)
    head = ["business_registration_number", "business_name", "owner", "market", "category", "district",
            "small_business", "programmes"]
    w.writerow(head)
    for i in range(n):
        row = dict(zip(head, [f"{200 + i // 100:03d}-{i % 100:02d}-{i:05d}", f"가게 {i}", f"상인 {i}", "자갈치시장",
                              "food", "중구", "예", "7"], strict=True))
        if i + 2 in bad:
            column, value = bad[i + 2]
            row[column] = value
        w.writerow(row.values())
    return out.getvalue().encode()


def test_a_csv_with_three_bad_rows_reports_them_then_issues_the_rest(desk, browser, tmp_path):
    bad = {7: ("business_registration_number", "12-345"), 250: ("small_business", "maybe"), 499: ("owner", "")}
    path = tmp_path / "market.csv"
    path.write_bytes(market_csv(500, bad))
    page = signed_in(browser, desk, "han")
    page.goto(f"{desk.urls['market']}/desk/bulk")
    page.select_option("#bulk-type", "MerchantCredential")
    page.set_input_files("#bulk-file", str(path))
    page.click("#bulk-form button[type=submit]")
    page.wait_for_selector("#job")
    lines = sorted({int(x) for x in page.locator("#bad-rows tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.line)")})
    assert lines == sorted(bad)
    report = page.inner_text("#bad-rows")
    assert "pattern" in report and "not_yes_or_no" in report and "required" in report
    assert page.inner_text("#rows-ok") == "497"
    page.click("#confirm")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert page.get_attribute("#progress", "value") == "497"
    with page.expect_download() as info:
        page.click("#result-link")
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][:4] == ["line", "offer_id", "credential_offer_uri", "tx_code"] and len(rows) == 498
    assert {int(r[0]) for r in rows[1:]}.isdisjoint(bad)

    page.goto(f"{desk.urls['market']}/desk/bulk")  # the same file again: found, not issued twice
    page.select_option("#bulk-type", "MerchantCredential")
    page.set_input_files("#bulk-file", str(path))
    page.click("#bulk-form button[type=submit]")
    page.wait_for_selector("#already")
    assert page.locator("#confirm").count() == 0
    page.context.close()


def test_the_audit_log_names_who_did_what(desk, browser):
    page = signed_in(browser, desk, "park")
    page.click("nav >> text=감사 기록")
    assert page.get_attribute("#chain-check", "data-ok") == "yes"
    rows = [r.split("\t") for r in page.locator("#audit tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText).join('\\t'))")]
    did = {(who.split(" ")[0], what) for _, _, who, what, _ in rows}
    assert ("김민지", "offer.created") in did and ("김민지", "credential.revoke") in did
    assert ("김민지", "desk.signed_in") in did and ("김민지", "desk.signed_out") in did
    page.click("nav >> text=체인 상태")
    assert page.inner_text("#chain-head").isdigit()
    assert "블록" in page.inner_text("#last-anchor")
    page.context.close()
