"""The desk (/desk) through its HTTP edge, on SQLite and PostgreSQL: accounts and sessions, CSRF, roles, the issue
form, a status change with its reason, a CSV job, the operator pages. The browser itself is exercised in
tests/e2e/test_e2e_desk.py."""

from __future__ import annotations

import csv
import logging
import re
import secrets
import threading
import time
from urllib.parse import quote, unquote

import pytest
from argon2 import PasswordHasher
from issuer_world import (
    CLERK,
    GRANT_CLAIMS,
    MERCHANT,
    MERCHANT_CLAIMS,
    OPERATOR,
    RESIDENT,
    RESIDENT_CLAIMS,
    HolderKey,
    TestClient,
    Wallet,
    make_settings,
)
from pydantic import ValidationError
from sqlalchemy import text

from issuer.api.app import build_service, create_app
from issuer.desk import accounts
from issuer.settings import DEV_CLERK_TOKEN, DEV_OPERATOR_TOKEN, token_actor
from issuer.store.models import DeskBulkJob, Offer

PASSWORD = "counter-password-1"
LOOPBACK = "http://127.0.0.1"


def add(service, username, role, office="해운대구청", name=None):
    with service.sessions.begin() as session:
        accounts.add_user(session, username=username, display_name=name or username.title(), role=role,
                          office=office, password=PASSWORD, now=service.clock.now(), actor="test")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """argon2id at its real cost (64 MiB, 3 passes) makes each hash take a second here; the tests of
    sessions, roles and forms do not need it (test_passwords_are_argon2id_at_full_cost checks the real one)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY", cheap.hash("dummy"))


REAL_HASHER = accounts._hasher


def test_passwords_are_argon2id_at_full_cost():
    assert REAL_HASHER.hash("x" * 12).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def open_desk(settings, service):
    add(service, "kim", "clerk", name="김민지")
    add(service, "lee", "clerk", office="중구청")
    add(service, "park", "operator", office="정보통신과")
    add(service, "choi", "auditor", office="감사관실")
    return TestClient(create_app(settings, service=service), base_url=LOOPBACK, raise_server_exceptions=False)


@pytest.fixture
def desk(settings, service):
    with open_desk(settings, service) as c:
        yield c


def sign_in(client, username, password=PASSWORD):
    r = client.post("/desk/signin", data={"username": username, "password": password, "next": "/desk"},
                    follow_redirects=False)
    return r


def csrf(client, path="/desk"):
    r = client.get(path)
    assert r.status_code == 200, r.text
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def search(client, **form):
    """The look-up form as the page posts it: a holder's details go in the body, never in the URL."""
    return client.post("/desk/credentials/search", data={"csrf": csrf(client, "/desk/credentials"), **form})


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(desk):
    assert desk.get("/desk", follow_redirects=False).headers["location"].startswith("/desk/signin")
    r = sign_in(desk, "kim")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # loopback
    page = desk.get("/desk")
    assert "김민지" in page.text and page.headers["content-security-policy"].startswith("default-src 'none'")
    token = csrf(desk)
    assert desk.post("/desk/signout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert desk.get("/desk", follow_redirects=False).status_code == 303


def test_cookie_is_secure_with_host_prefix_off_loopback(settings, service):
    add(service, "kim", "clerk")
    with TestClient(create_app(settings, service=service), base_url="https://desk.city.example") as c:
        cookie = sign_in(c, "kim").headers["set-cookie"]
    assert cookie.startswith("__Host-civicpass_desk=") and "Secure" in cookie and "Path=/" in cookie


def test_wrong_passwords_lock_the_account_and_unknown_names_are_refused_alike(desk, service):
    assert sign_in(desk, "nobody").status_code == 401
    for _ in range(service.settings.desk_signin_failures):
        assert sign_in(desk, "lee", "wrong password!").status_code == 401
    r = sign_in(desk, "lee")  # the right password, but locked now
    assert r.status_code == 429 and "시도가 너무" in r.text
    service.clock.advance(service.settings.desk_lockout + 1)
    assert sign_in(desk, "lee").status_code == 303


def test_sign_in_is_limited_per_address(desk, service):
    statuses = [sign_in(desk, "nobody").status_code for _ in range(service.settings.desk_signin_per_minute + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}


def test_two_issuer_processes_on_one_redis_share_the_sign_in_limit(settings, service, redis_url):
    shared = settings.model_copy(update={"redis_url": redis_url})
    address = (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}", 40000)
    apps = [create_app(shared, service=service) for _ in range(2)]  # each with its own limiter, as two replicas
    clients = [TestClient(app, base_url=LOOPBACK, client=address, raise_server_exceptions=False) for app in apps]
    limit = service.settings.desk_signin_per_minute
    with clients[0] as one, clients[1] as other:
        statuses = [sign_in(one if i % 2 else other, "nobody").status_code for i in range(limit + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}  # the limit counted across both


def test_idle_session_ends(desk, service):
    sign_in(desk, "kim")
    service.clock.advance(service.settings.desk_idle_timeout + 1)
    r = desk.get("/desk", follow_redirects=False)
    assert r.status_code == 303 and "ended=1" in r.headers["location"]


def test_a_page_polling_on_its_own_does_not_keep_the_session_alive(desk, service):
    sign_in(desk, "kim")
    r = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, "csrf": csrf(desk)})
    offer_id = re.search(r'data-offer="([0-9a-f]+)"', r.text).group(1)
    idle = service.settings.desk_idle_timeout
    service.clock.advance(idle - 20)
    assert desk.get(f"/desk/offers/{offer_id}/state").status_code == 200
    service.clock.advance(30)
    assert desk.get(f"/desk/offers/{offer_id}/state").json()["code"] == "unauthorized"
    assert desk.get("/desk", follow_redirects=False).status_code == 303


def test_a_post_without_or_with_a_wrong_csrf_token_changes_nothing(desk, service):
    sign_in(desk, "kim")
    for data in ({}, {"csrf": "forged"}):
        r = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, **data})
        assert r.status_code == 403 and "csrf_refused" in r.text
    token = csrf(desk)
    r = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, "csrf": token},
                  headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    with service.sessions() as session:
        assert session.query(Offer).count() == 0


def test_roles_guard_the_pages(desk):
    sign_in(desk, "kim")
    for path in ("/desk/keys", "/desk/health", "/desk/audit"):
        assert desk.get(path).status_code == 403, path
    sign_in(desk, "choi")
    assert desk.get("/desk/issue").status_code == 403
    assert desk.get("/desk/audit").status_code == 200 and desk.get("/desk/health").status_code == 200
    assert desk.get("/desk/keys").status_code == 403
    assert search(desk, field="name", value="김민지").status_code == 403


def offer_on_page(html):
    """(offer id, PIN, offer URI read from the page's QR image by zxing-cpp)."""
    import base64
    import io

    import zxingcpp
    from PIL import Image

    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1))
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    pin = re.search(r'id="tx-code" class="pin">(\d+)<', html).group(1)
    return re.search(r'data-offer="([0-9a-f]+)"', html).group(1), pin, found.text


def test_issue_form_checks_fields_then_offers_and_follows_the_redemption(desk, service, clock):
    sign_in(desk, "kim")
    form = desk.get("/desk/issue/ResidentCredential").text
    assert "생년월일" in form and 'type="date"' in form and "Date of birth" not in form
    desk.cookies.set("desk_lang", "en")
    assert "Date of birth" in desk.get("/desk/issue/ResidentCredential").text
    token = csrf(desk, "/desk/issue/ResidentCredential")
    bad = desk.post("/desk/issue/ResidentCredential/check", data={"name": "", "birth_date": "2000-13-40"},
                    headers={"X-CSRF-Token": token})
    assert bad.json()["errors"] == {"name": "required", "birth_date": "format", "city": "required",
                                    "district": "required", "resident_since": "required"}
    assert bad.json()["messages"]["birth_date"] == "Not a date (YYYY-MM-DD)"  # the English toggle is on
    refused = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, "birth_date": "x", "csrf": token})
    assert refused.status_code == 422 and 'data-field="birth_date"' in refused.text
    r = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, "csrf": token})
    assert r.status_code == 201, r.text
    offer_id, pin, uri = offer_on_page(r.text)
    assert desk.get(f"/desk/offers/{offer_id}/state").json()["state"] == "waiting"
    Wallet(desk, clock.now()).receive(uri, pin, copies=1)
    state = desk.get(f"/desk/offers/{offer_id}/state").json()
    assert state["state"] == "redeemed" and state["credential_id"]
    with service.sessions() as session:
        assert session.get(Offer, offer_id).created_by == "person:kim"


def test_an_offer_nobody_redeems_shows_expired(desk, service, clock):
    sign_in(desk, "kim")
    r = desk.post("/desk/issue/ResidentCredential", data={**RESIDENT_CLAIMS, "csrf": csrf(desk)})
    offer_id, _, _ = offer_on_page(r.text)
    clock.advance(service.settings.offer_ttl + 1)
    assert desk.get(f"/desk/offers/{offer_id}/state").json()["state"] == "expired"


def test_other_clerks_cannot_follow_an_offer(desk):
    sign_in(desk, "kim")
    token = csrf(desk)
    r = desk.post("/desk/issue/GrantEligibilityCredential", data={**{k: str(v) for k, v in GRANT_CLAIMS.items()},
                                                                "csrf": token})
    offer_id = re.search(r'data-offer="([0-9a-f]+)"', r.text).group(1)
    sign_in(desk, "lee")
    assert desk.get(f"/desk/offers/{offer_id}/state").status_code == 404


def issue_and_redeem(desk, service, clock, claims=RESIDENT_CLAIMS):
    made = service.oid4vci.create_offers("person:kim", "urn:civicpass:ResidentCredential:1", [claims])[0]
    Wallet(desk, clock.now()).receive(made.uri, made.tx_code, copies=2)
    with service.sessions() as session:
        return session.get(Offer, made.offer_id).credential_id


def test_lookup_by_office_and_holder_and_a_revocation_with_reason(desk, service, clock):
    cid = issue_and_redeem(desk, service, clock)
    sign_in(desk, "kim")
    assert cid in search(desk, field="name", value=RESIDENT_CLAIMS["name"]).text
    assert cid not in search(desk, field="name", value="someone else").text
    sign_in(desk, "lee")  # another office
    assert cid not in desk.get("/desk/credentials").text
    assert desk.get(f"/desk/credentials/{cid}").status_code == 404

    sign_in(desk, "kim")
    page = desk.get(f"/desk/credentials/{cid}").text
    assert "복사" not in page and 'id="copies">3<' in page  # one SD-JWT VC + two CP1 copies
    token = csrf(desk, f"/desk/credentials/{cid}")
    r = desk.post(f"/desk/credentials/{cid}/status", data={"csrf": token, "action": "revoke", "reason": "moved away"})
    assert r.status_code == 400  # no confirmation ticked
    r = desk.post(f"/desk/credentials/{cid}/status", data={"csrf": token, "action": "revoke", "reason": "moved away",
                                                          "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    state = desk.get(f"/desk/credentials/{cid}/state").json()
    assert state["status"] == "revoked" and state["published"] is False
    service.worker.run_once(force=True)
    assert desk.get(f"/desk/credentials/{cid}/state").json()["published"] is True
    events, _ = service.admin.audit_entries(after=0, limit=1000)
    revoke = [e for e in events if e["action"] == "credential.revoke"]
    assert revoke[0]["actor"] == "person:kim" and revoke[0]["details"]["reason"] == "moved away"


HOLDER = "정하늘"


def test_a_holder_search_is_a_csrf_checked_post_whose_page_is_not_stored(desk, service, clock):
    cid = issue_and_redeem(desk, service, clock, {**RESIDENT_CLAIMS, "name": HOLDER})
    sign_in(desk, "kim")
    for forged in ({}, {"csrf": "forged"}):
        r = desk.post("/desk/credentials/search", data={"field": "name", "value": HOLDER, **forged})
        assert r.status_code == 403 and "csrf_refused" in r.text and HOLDER not in r.text
    r = search(desk, field="name", value=HOLDER, type="ResidentCredential", state="valid")
    assert r.status_code == 200 and not r.history and cid in r.text  # the page itself: no redirect
    assert r.headers["cache-control"] == "no-store"
    assert HOLDER not in str(r.url) and quote(HOLDER) not in str(r.url)
    links = re.findall(r'(?:href|action)="([^"]*)"', r.text)
    assert links and not [u for u in links if HOLDER in unquote(u)]
    assert 'method="post" action="/desk/credentials/search"' in r.text


def test_a_holder_search_in_the_url_is_refused_without_searching(desk, monkeypatch):
    sign_in(desk, "kim")
    searched = []
    monkeypatch.setattr(desk.app.state.desk, "search", lambda *a, **k: searched.append(k) or [])
    for params in ({"field": "name", "value": HOLDER}, {"value": HOLDER}, {"field": "name", "type": "x"}):
        r = desk.get("/desk/credentials", params=params)
        assert r.status_code == 400 and 'data-code="holder_search_in_url"' in r.text and HOLDER not in r.text
    assert searched == []
    assert desk.get("/desk/credentials", params={"type": "ResidentCredential"}).status_code == 200
    assert searched == [{"type_id": "ResidentCredential", "state": "", "date_from": None, "date_to": None,
                         "holder_field": "", "holder_value": ""}]


def test_a_refused_holder_search_echoes_the_value_nowhere(desk, caplog):
    sign_in(desk, "kim")
    with caplog.at_level(logging.DEBUG):
        for form in ({"field": "nickname", "value": HOLDER}, {"field": "name", "value": HOLDER * 100},
                     {"field": "name", "value": HOLDER, "date_from": "yesterday"}):
            r = search(desk, **form)
            assert r.status_code == 400 and HOLDER not in r.text, form
        sign_in(desk, "choi")  # an auditor may not search by holder
        r = search(desk, field="name", value=HOLDER)
        assert r.status_code == 403 and HOLDER not in r.text
    assert not [rec for rec in caplog.records if HOLDER in rec.getMessage()]


def test_auditor_sees_metadata_and_the_audit_log_names_people(desk, service, clock):
    cid = issue_and_redeem(desk, service, clock, {**RESIDENT_CLAIMS, "name": "정하늘"})
    sign_in(desk, "choi")
    page = desk.get(f"/desk/credentials/{cid}").text
    assert "정하늘" not in page and "status-form" not in page
    audit = desk.get("/desk/audit").text
    assert 'data-ok="yes"' in audit and "김민지" in audit and "desk.signed_in" in audit


def test_operator_rotates_the_key_with_confirmation(desk, service):
    sign_in(desk, "park")
    before = service.keys.ring.active_kid
    token = csrf(desk, "/desk/keys")
    assert desk.post("/desk/keys/rotate", data={"csrf": token}).status_code == 400
    assert desk.post("/desk/keys/rotate", data={"csrf": token, "confirm": "yes"}).status_code == 200
    assert service.keys.ring.active_kid != before
    assert service.keys.ring.active_kid in desk.get("/desk/keys").text
    health = desk.get("/desk/health").text
    assert 'id="queued">' in health


def merchant_csv(n, bad_lines=()):
    head = "business_registration_number,business_name,owner,market,category,district,small_business,programmes"
    rows = [head]
    for i in range(n):
        number = f"{100 + i % 900:03d}-{i % 100:02d}-{i:05d}"
        rows.append(f"{number},가게 {i},상인 {i},자갈치시장,food,중구,yes,\"7,3\"")
    for line in bad_lines:  # line numbers of the file (the header is line 1)
        rows[line - 1] = rows[line - 1].replace("-", "", 1)
    return ("\n".join(rows) + "\n").encode()


def upload(desk, token, type_, name, data, **options):
    """A CSV posted to the bulk page as its form does."""
    return desk.post("/desk/bulk", data={"csrf": token, "type": type_}, files={"file": (name, data, "text/csv")},
                     **options)


def job_of(page):
    """The id of the job a bulk page shows."""
    return re.search(r'data-job="([0-9a-f]+)"', page.text).group(1)


def wait_done(desk, job_id):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = desk.get(f"/desk/bulk/{job_id}/state").json()
        if s["state"] == "done":
            return s
        time.sleep(0.1)
    raise AssertionError("job not done")


def test_csv_reports_bad_rows_then_issues_the_rest_once(desk, service):
    sign_in(desk, "kim")
    token = csrf(desk, "/desk/bulk")
    data = merchant_csv(40, bad_lines=(3, 17))
    r = upload(desk, token, "MerchantCredential", "market.csv", data, follow_redirects=True)
    assert r.status_code == 200, r.text
    assert re.findall(r'<tr data-line="(\d+)">', r.text) == ["3", "17"]
    job_id = job_of(r)
    assert desk.post(f"/desk/bulk/{job_id}/confirm", data={"csrf": token}).status_code == 200
    assert wait_done(desk, job_id)["done"] == 38
    result = desk.get(f"/desk/bulk/{job_id}/result.csv").text.lstrip("\ufeff").splitlines()
    assert result[0] == "line,offer_id,credential_offer_uri,tx_code,expires_at" and len(result) == 39
    assert result[1].split(",")[0] == "2" and "openid-credential-offer://" in result[1]
    again = upload(desk, token, "MerchantCredential", "again.csv", data, follow_redirects=False)
    assert again.headers["location"] == f"/desk/bulk/{job_id}?again=1"
    with service.sessions() as session:
        assert session.query(Offer).count() == 38
        assert session.get(DeskBulkJob, job_id).payload is None  # the rows are gone once issued


def test_two_runners_on_one_job_issue_each_row_once(desk, service):
    sign_in(desk, "kim")
    token = csrf(desk, "/desk/bulk")
    r = upload(desk, token, "MerchantCredential", "m.csv", merchant_csv(1200))
    job_id = job_of(r)
    bulk = desk.app.state.desk_bulk
    with service.sessions.begin() as session:
        session.get(DeskBulkJob, job_id).state = "running"
    threads = [threading.Thread(target=bulk.run, args=(job_id,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bulk.run(job_id)
    with service.sessions() as session:
        assert session.query(Offer).count() == 1200
        assert session.get(DeskBulkJob, job_id).state == "done"
    events, verified = service.admin.audit_entries(after=0, limit=5000)
    assert verified == len(events) and sum(e["action"] == "offer.created" for e in events) == 1200


def test_csv_with_unknown_columns_is_refused_with_a_page(desk):
    sign_in(desk, "kim")
    token = csrf(desk, "/desk/bulk")
    r = upload(desk, token, "MerchantCredential", "x.csv", b"colour,size\nred,1\n")
    assert r.status_code == 400 and "colour" in r.text


def test_merchant_form_reads_yes_no_and_numbers(desk):
    sign_in(desk, "kim")
    token = csrf(desk)
    values = {**{k: str(v) for k, v in MERCHANT_CLAIMS.items()}, "small_business": "예", "programmes": "7, 3"}
    r = desk.post("/desk/issue/MerchantCredential", data={**values, "csrf": token})
    assert r.status_code == 201, r.text


def test_audit_log_pages_newest_first_and_shows_a_broken_chain(desk, service):
    service.oid4vci.create_offers("person:kim", "urn:civicpass:GrantEligibilityCredential:1", [GRANT_CLAIMS] * 120)
    sign_in(desk, "choi")
    page = desk.get("/desk/audit").text
    seqs = [int(x) for x in re.findall(r'<tr data-seq="(\d+)">', page)]
    assert len(seqs) == 100 and seqs == sorted(seqs, reverse=True) and 'data-ok="yes"' in page
    older = desk.get(f"/desk/audit?before={seqs[-1]}").text
    rest = [int(x) for x in re.findall(r'<tr data-seq="(\d+)">', older)]
    assert rest == list(range(seqs[-1] - 1, 0, -1))
    with service.sessions.begin() as session:
        session.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3"))
    assert 'data-ok="no"' in desk.get("/desk/audit").text


def test_csv_rows_an_offer_would_refuse_are_reported_before_the_job_runs(desk, service):
    # A district CP1 has no code for, and a birth date ahead: refused per row at upload (issue 13 §8), not
    # in the middle of the job, where the whole chunk would fail.
    sign_in(desk, "kim")
    token = csrf(desk, "/desk/bulk")
    rows = ["name,birth_date,city,district,resident_since", "김하나,1990-01-02,부산광역시,해운대구,2020-01-01",
            "김둘,1990-01-02,부산광역시,어딘가구,2020-01-01", "김셋,2999-01-02,부산광역시,중구,2020-01-01",
            "김넷,1991-05-06,부산광역시,중구,2020-01-01"]
    r = upload(desk, token, "ResidentCredential", "r.csv", ("\n".join(rows) + "\n").encode(), follow_redirects=True)
    assert r.status_code == 200, r.text
    assert re.findall(r'<tr data-line="(\d+)">', r.text) == ["3", "4"]
    job_id = job_of(r)
    assert desk.post(f"/desk/bulk/{job_id}/confirm", data={"csrf": token}).status_code == 200
    assert wait_done(desk, job_id)["done"] == 2



# --- looking a holder up, whichever route issued the credential ------------------------------------------------
KIMS_OFFICE_TOKEN = {token_actor("clerk", DEV_CLERK_TOKEN): "해운대구청"}


@pytest.fixture
def office_desk(db_url, clock, chain):
    """The desk of an issuer whose admin clerk token issues for 해운대구청, kim's office."""
    settings = make_settings(db_url, token_offices=KIMS_OFFICE_TOKEN)
    service = build_service(settings, clock=clock, chain=chain)
    with open_desk(settings, service) as c:
        yield c


def found(client, field, value):
    page = search(client, field=field, value=value)
    assert page.status_code == 200, page.text
    return set(re.findall(r'href="/desk/credentials/([0-9a-f]{32})"', page.text))


def test_a_clerk_finds_by_holder_what_their_office_issued_through_the_admin_api(office_desk, clock):
    r = office_desk.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": {**RESIDENT_CLAIMS,
                                                                                         "name": "오소리"}})
    assert r.status_code == 201, r.text
    Wallet(office_desk, clock.now()).receive(r.json()["credential_offer_uri"], r.json()["tx_code"], copies=1)
    by_offer = office_desk.get("/v1/credentials", headers=OPERATOR).json()["credentials"][0]["id"]
    r = office_desk.post("/v1/credentials", headers=CLERK, json={
        "vct": MERCHANT, "claims": {**MERCHANT_CLAIMS, "owner": "직접희"}, "holder_jwks": [HolderKey().jwk]})
    assert r.status_code == 201, r.text
    direct = r.json()["id"]

    sign_in(office_desk, "kim")
    assert found(office_desk, "name", "오소리") == {by_offer}
    assert found(office_desk, "birth_date", RESIDENT_CLAIMS["birth_date"]) == {by_offer}
    assert found(office_desk, "owner", "직접희") == {direct}
    assert found(office_desk, "business_registration_number", MERCHANT_CLAIMS["business_registration_number"]) \
        == {direct}
    assert found(office_desk, "owner", "김민지") == set()
    assert office_desk.get(f"/desk/credentials/{direct}").status_code == 200
    sign_in(office_desk, "lee")  # another office: neither is theirs
    assert found(office_desk, "name", "오소리") == found(office_desk, "owner", "직접희") == set()
    assert office_desk.get(f"/desk/credentials/{direct}").status_code == 404


def test_the_auditor_sees_api_issued_credentials_as_metadata_only(office_desk):
    r = office_desk.post("/v1/credentials", headers=CLERK, json={
        "vct": RESIDENT, "claims": {**RESIDENT_CLAIMS, "name": "감사받음"}, "holder_jwks": [HolderKey().jwk]})
    cid = r.json()["id"]
    sign_in(office_desk, "choi")
    assert cid in office_desk.get("/desk/credentials").text
    page = office_desk.get(f"/desk/credentials/{cid}")
    assert page.status_code == 200 and "해운대구청" in page.text and "감사받음" not in page.text
    refused = search(office_desk, field="name", value="감사받음")
    assert refused.status_code == 403 and "감사받음" not in refused.text


def test_what_a_token_of_no_office_issues_is_no_clerks(desk):
    r = desk.post("/v1/credentials", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS,
                                                           "holder_jwks": [HolderKey().jwk]})
    cid = r.json()["id"]
    for clerk in ("kim", "lee"):
        sign_in(desk, clerk)
        assert found(desk, "name", RESIDENT_CLAIMS["name"]) == set() and cid not in desk.get("/desk/credentials").text
    sign_in(desk, "park")
    assert cid in desk.get("/desk/credentials").text


def test_a_clerk_finds_a_csv_row_by_holder_once_redeemed(desk, clock):
    sign_in(desk, "kim")
    token = csrf(desk, "/desk/bulk")
    r = upload(desk, token, "MerchantCredential", "few.csv", merchant_csv(3))
    job_id = job_of(r)
    assert desk.post(f"/desk/bulk/{job_id}/confirm", data={"csrf": token}).status_code == 200
    wait_done(desk, job_id)
    row = desk.get(f"/desk/bulk/{job_id}/result.csv").text.lstrip("\ufeff").splitlines()[2]  # the file's line 3
    _, _, uri, pin, _ = next(csv.reader([row]))
    Wallet(desk, clock.now()).receive(uri, pin, copies=1)
    (cid,) = found(desk, "owner", "상인 1")
    assert found(desk, "business_registration_number", "101-01-00001") == {cid}


def test_settings_name_offices_only_for_clerk_tokens():
    make_settings("sqlite://", token_offices=KIMS_OFFICE_TOKEN)
    with pytest.raises(ValidationError, match="names no clerk token"):
        make_settings("sqlite://", token_offices={token_actor("operator", DEV_OPERATOR_TOKEN): "해운대구청"})
    with pytest.raises(ValidationError, match="1 to 100"):
        make_settings("sqlite://", token_offices={token_actor("clerk", DEV_CLERK_TOKEN): " "})
