"""Credential types are data: packaged YAML files, a drop-in directory, and the operator API."""

from __future__ import annotations

import json

import pytest
from issuer_world import CLERK, OPERATOR, RESIDENT, RESIDENT_CLAIMS, FixedClock, HolderKey, make_settings

from credcore import sdjwt
from issuer.types import ClaimsInvalidError, TypeRegistry, parse_type

PARKING = {
    "id": "ParkingPermit",
    "vct": "urn:civicpass:ParkingPermit:1",
    "name": "Resident parking permit",
    "validity_days": 30,
    "disclosable": ["plate", "zone"],
    "schema": {"type": "object", "additionalProperties": False, "required": ["plate", "zone"],
               "properties": {"plate": {"type": "string", "maxLength": 16}, "zone": {"type": "integer"}}},
}


def test_packaged_types_are_the_three_city_types():
    reg = TypeRegistry.load()
    assert [t.id for t in reg] == ["GrantEligibilityCredential", "MerchantCredential", "ResidentCredential"]
    assert reg.get(RESIDENT).cp1_profile == "resident-basic"


@pytest.mark.parametrize(("birth", "expected"), [("2007-11-19", True), ("2007-11-20", False), ("1950-01-01", True)])
def test_age_over_19_is_derived_in_the_city_time_zone(birth, expected):
    # 2026-11-18T15:00:00Z is 2026-11-19 00:00 in Seoul: the 19th birthday on 2007-11-19 has begun there
    t = TypeRegistry.load().get(RESIDENT)
    claims = t.prepare_claims({**RESIDENT_CLAIMS, "birth_date": birth}, now=1_795_014_000, tz="Asia/Seoul")
    assert claims["age_over_19"] is expected


def test_cp1_claims_are_codes():
    t = TypeRegistry.load().get(RESIDENT)
    claims = t.prepare_claims(RESIDENT_CLAIMS, now=1_795_000_000, tz="Asia/Seoul")
    assert t.profile_claims(claims) == {"city": 26000, "district": 26350, "age_over_19": True}
    with pytest.raises(ClaimsInvalidError):
        t.profile_claims({**claims, "district": "어딘가구"})


@pytest.mark.parametrize("change", [
    {"schema": {"type": "array"}},
    {"disclosable": ["nope"]},
    {"schema": {**PARKING["schema"], "properties": {"iss": {"type": "string"}}}},
    {"cp1": {"profile": "resident-basic", "claims": {}}},
    {"id": "bad id"},
    {"derived": {"x": {"rule": "magic", "from": "plate"}}},
])
def test_bad_type_definitions_are_refused(change):
    with pytest.raises(ClaimsInvalidError.__mro__[1]):
        parse_type({**PARKING, **change})


def test_a_city_adds_a_type_by_dropping_a_file(tmp_path):
    from issuer.api.app import build_service

    types = tmp_path / "types"
    types.mkdir()
    (types / "parking.json").write_text(json.dumps(PARKING))
    svc = build_service(make_settings(f"sqlite:///{tmp_path}/i.db", types_dir=types), clock=FixedClock())
    assert "ParkingPermit" in svc.oid4vci.configurations()
    svc.sessions.kw["bind"].dispose()


def test_operator_adds_a_type_through_the_api_and_it_is_issued(client, service):
    r = client.post("/v1/types", headers=OPERATOR, json=PARKING)
    assert r.status_code == 201, r.text
    assert client.post("/v1/types", headers=OPERATOR, json=PARKING).json()["code"] == "type_exists"
    meta = client.get("/.well-known/openid-credential-issuer").json()
    assert meta["credential_configurations_supported"]["ParkingPermit"]["vct"] == PARKING["vct"]
    body = {"vct": PARKING["vct"], "claims": {"plate": "12가3456", "zone": 4}, "holder_jwks": [HolderKey().jwk]}
    r = client.post("/v1/credentials", headers=CLERK, json=body)
    assert r.status_code == 201, r.text
    assert sdjwt.disclosable_claims(r.json()["credentials"][0]["credential"]) == {"plate": "12가3456", "zone": 4}
    bad = client.post("/v1/types", headers=OPERATOR, json={**PARKING, "vct": "urn:x:2", "disclosable": ["nope"]})
    assert bad.status_code == 400 and bad.json()["code"] == "type_definition_invalid"


@pytest.mark.parametrize(("change", "field"), [
    ({"district": "어딘가구"}, "district"),  # no code in the type's table
    ({"district": "123456789"}, "district"),  # digits, but beyond a 5-digit administrative code
    ({"city": "999999"}, "city"),
])
def test_an_offer_whose_compact_form_cannot_be_encoded_is_refused_at_creation(client, change, field):
    # Before: 201, and the wallet's CP1 request failed later, after the SD-JWT VC was already issued.
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": {**RESIDENT_CLAIMS, **change}})
    assert (r.status_code, r.json()["code"]) == (422, "claims_refused"), r.text
    assert f"claim {field} " in r.json()["detail"]
    r = client.post("/v1/credentials", headers=CLERK, json={
        "vct": RESIDENT, "claims": {**RESIDENT_CLAIMS, **change}, "holder_jwks": [HolderKey().jwk, HolderKey().jwk]})
    assert r.status_code == 422, r.text


def _seoul_today(days: int = 0) -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    return (dt.datetime.now(ZoneInfo("Asia/Seoul")).date() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize("birth", ["2999-01-01", _seoul_today(2), "1850-06-01", "0001-01-01"])
def test_a_future_or_impossible_birth_date_is_refused(client, birth):
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT,
                                                       "claims": {**RESIDENT_CLAIMS, "birth_date": birth}})
    assert (r.status_code, r.json()["code"]) == (422, "claims_refused"), r.text
    assert "claim birth_date " in r.json()["detail"]


def test_a_birth_date_of_today_is_accepted(client):
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT,
                                                       "claims": {**RESIDENT_CLAIMS, "birth_date": _seoul_today()}})
    assert r.status_code == 201, r.text
