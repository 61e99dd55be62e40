"""The shared HTTP edge: one status per error, whichever service answers, and one problem shape."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

import contracts.errors  # noqa: F401  (registers the chain errors as CredError subclasses)
import credcore.status_list  # noqa: F401
import issuer.types  # noqa: F401
import verifier.errors  # noqa: F401
from credcore.errors import (
    AlreadyRevokedError,
    ChainUnavailableError,
    CredError,
    MalformedInputError,
    NotFoundError,
    RefusedError,
    SignatureError,
    all_error_classes,
)
from httpedge import PROBLEM_BASE, ProblemMap
from httpedge import install as install_edge
from issuer.api.problems import PROBLEMS as ISSUER
from verifier.api.problems import PROBLEMS as VERIFIER

with warnings.catch_warnings():  # starlette prefers httpx2 for its TestClient; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _shared_classes() -> list[type[CredError]]:
    return [cls for cls in all_error_classes() if cls.__module__.split(".")[0] in {"credcore", "contracts"}]


def test_both_services_answer_every_shared_error_with_the_same_status():
    for cls in _shared_classes():
        exc = cls.__new__(cls)
        assert ISSUER.status_for(exc) == VERIFIER.status_for(exc), cls


@pytest.mark.parametrize(("cls", "status"), [(MalformedInputError, 400), (RefusedError, 422), (SignatureError, 422),
                                             (NotFoundError, 404), (AlreadyRevokedError, 409),
                                             (ChainUnavailableError, 503), (CredError, 500)])
def test_each_group_has_one_status(cls, status):
    assert ISSUER.status_for(cls()) == VERIFIER.status_for(cls()) == status


def test_a_service_cannot_move_a_core_error_to_another_status():
    with pytest.raises(ValueError, match="keep their group's status"):
        ProblemMap({RefusedError: 400})


class _Body(BaseModel):
    n: int


def _app(problems: ProblemMap) -> TestClient:
    app = FastAPI()

    @app.post("/refuse")
    def refuse() -> None:
        raise RefusedError("no")

    @app.post("/typed")
    def typed(body: _Body) -> int:
        return body.n

    @app.post("/boom")
    def boom() -> None:
        raise RuntimeError("secret-claim-value")

    install_edge(app, problems=problems, body_limit=64)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("problems", [ISSUER, VERIFIER], ids=["issuer", "verifier"])
def test_answers_are_problem_json_on_one_type_base(problems):
    client = _app(problems)
    r = client.post("/refuse")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"type": f"{PROBLEM_BASE}/refused", "title": "Request refused", "status": 422,
                        "detail": "no", "code": "refused", "instance": "/refuse"}
    r = client.post("/typed", json={"n": "not-a-number"})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_input")
    assert r.json()["errors"] == [{"loc": ["body", "n"], "type": "int_parsing"}]
    assert "not-a-number" not in r.text
    r = client.post("/typed", content=b"{", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_json")
    r = client.post("/typed", content=b"x" * 65, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"], r.json()["instance"]) == (413, "payload_too_large", "/typed")
    r = client.post("/boom")
    assert (r.status_code, r.json()["code"]) == (500, "internal_error")
    assert "secret" not in r.text
    r = client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_a_declared_unavailable_dependency_is_503():
    class DriverDown(Exception):
        pass

    app = FastAPI()

    @app.get("/db")
    def db() -> None:
        raise DriverDown

    install_edge(app, problems=ProblemMap(unavailable=(DriverDown,)), body_limit=64)
    r = TestClient(app, raise_server_exceptions=False).get("/db")
    assert (r.status_code, r.json()["code"]) == (503, "infrastructure_unavailable")


@pytest.mark.parametrize("problems", [ISSUER, VERIFIER], ids=["issuer", "verifier"])
def test_a_json_body_with_a_duplicate_member_is_400_in_both_services(problems):
    client = _app(problems)
    for raw in (b'{"n":1,"n":2}', b'[{"a":1,"a":1}]'):
        r = client.post("/typed", content=raw, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["code"], r.json()["detail"]) == (
            400, "malformed_json", "request body has a duplicate member")
    assert client.post("/typed", json={"n": 1}).status_code == 200


def test_a_rate_limited_refusal_is_429_with_retry_after():
    from credcore.errors import RateLimitedError

    assert ISSUER.status_for(RateLimitedError(retry_after=7)) == VERIFIER.status_for(RateLimitedError()) == 429
    app = FastAPI()

    @app.post("/busy")
    def busy() -> None:
        raise RateLimitedError("too many", retry_after=7)

    install_edge(app, problems=VERIFIER, body_limit=64)
    r = TestClient(app, raise_server_exceptions=False).post("/busy")
    assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (429, "rate_limited", "7")
