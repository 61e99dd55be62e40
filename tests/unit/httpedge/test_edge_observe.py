"""The edge's request observer and JSON logs: request ids, route templates, tracebacks, never paths or data."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import warnings

import pytest
from fastapi import FastAPI

from httpedge import ProblemMap
from httpedge import install as install_edge
from httpedge.logs import JsonFormatter

_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

with warnings.catch_warnings():  # starlette prefers httpx2 for its TestClient; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def logged():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("cityhall"))
    loggers = [logging.getLogger(n) for n in ("civicpass", "test.edge")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield out
    for lg in loggers:
        lg.removeHandler(handler)
        lg.setLevel(logging.NOTSET)


def _client(token: str | None = None) -> TestClient:
    app = FastAPI()

    @app.get("/v1/credentials/{credential_id}")
    def get(credential_id: str) -> dict[str, str]:
        logging.getLogger("test.edge").info("looked up")
        return {"ok": "yes"}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    install_edge(app, problems=ProblemMap(), body_limit=1024, metrics_token=lambda: token)
    return TestClient(app, raise_server_exceptions=False)


def _lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_access_lines_name_the_route_template_and_request_id_never_the_path(logged):
    client = _client()
    r = client.get("/v1/credentials/secret-id?tx_code=123456", headers={"X-Request-ID": "lb-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "lb-42"
    assert client.get("/nowhere/secret").status_code == 404
    lines = _lines(logged)
    looked_up, first, second = lines
    assert looked_up["msg"] == "looked up" and looked_up["request_id"] == "lb-42"  # lines inside the request too
    assert {k: first[k] for k in ("svc", "method", "route", "status", "request_id")} == {
        "svc": "cityhall", "method": "GET", "route": "/v1/credentials/{credential_id}", "status": 200,
        "request_id": "lb-42"}
    assert first["ms"] >= 0
    assert (second["route"], second["status"]) == ("unmatched", 404)
    assert second["request_id"] and second["request_id"] != "lb-42"  # made here when the client sends none
    assert "secret" not in logged.getvalue() and "123456" not in logged.getvalue()


@pytest.mark.parametrize("sent", ["x" * 65, "a b", "<script>", ""])
def test_an_unsafe_request_id_is_replaced(sent):
    r = _client().get("/healthz", headers={"X-Request-ID": sent})
    assert r.headers["x-request-id"] not in (sent, "") and _SAFE.fullmatch(r.headers["x-request-id"])


def test_an_exception_is_logged_with_its_traceback_and_request_id(logged):
    r = _client().get("/boom", headers={"X-Request-ID": "r-1"})
    assert r.status_code == 500 and "bug" not in r.text
    error = next(line for line in _lines(logged) if line["level"] == "error")
    assert error["error"] == "RuntimeError" and "Traceback" in error["traceback"] and "boom" in error["traceback"]
    assert error["request_id"] == "r-1"


def test_health_answers_without_dependencies_and_ready_without_probes():
    client = _client()
    assert client.get("/healthz").json() == {"status": "ok"}
    with client:
        assert client.get("/readyz").json() == {"status": "ready", "components": {}}


def test_metrics_are_prometheus_text_with_route_templates():
    client = _client()
    client.get("/v1/credentials/abc")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert ('civicpass_http_request_duration_seconds_count{method="GET",route="/v1/credentials/{credential_id}",'
            'status="200"}') in r.text
    assert "abc" not in r.text


def test_metrics_need_the_token_when_one_is_set():
    client = _client(token="t" * 32)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).status_code == 200


def test_a_hung_probe_makes_readyz_503_and_never_holds_the_answer():
    import threading
    import time

    from httpedge import Readiness

    release = threading.Event()
    calls = []

    def hangs() -> None:
        calls.append(1)
        release.wait(10)

    app = FastAPI()
    install_edge(app, problems=ProblemMap(), body_limit=1024,
                 readiness=Readiness({"chain": hangs, "database": lambda: None}, timeout=0.2, interval=0.05))
    with TestClient(app) as client:
        deadline = time.monotonic() + 5
        while client.get("/readyz").json()["components"]["chain"]["state"] != "down":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.perf_counter()
        r = client.get("/readyz")
        assert time.perf_counter() - started < 0.2  # below the probe's timeout: it answered without waiting for it
        assert r.status_code == 503 and r.json()["components"]["chain"]["reason"] == "timeout"
        assert r.json()["components"]["database"]["state"] == "up"
        time.sleep(0.3)
        assert len(calls) == 1  # a hung probe is never started twice
        release.set()
        deadline = time.monotonic() + 5
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_configured_logging_writes_each_record_as_one_json_line_to_a_file_descriptor(tmp_path):
    from httpedge.logs import JsonLineHandler, configure_logging

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    path = tmp_path / "service.log"
    try:
        with path.open("w") as out:
            configure_logging("verifier", out=out)
            assert isinstance(root.handlers[0], JsonLineHandler)
            logging.getLogger("civicpass.access").info("request", extra={"route": "/v1/verify", "n": 2**70})
            logging.getLogger("verifier.x").warning("ünïcode %s", "ok")
        lines = path.read_text(encoding="utf-8").splitlines()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    first, second = (json.loads(line) for line in lines)  # exactly two lines, each whole JSON
    assert first["route"] == "/v1/verify" and first["n"] == 2**70 and first["svc"] == "verifier"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["msg"] == "ünïcode ok" and second["level"] == "warning"


def test_an_access_line_written_directly_is_the_line_its_log_record_gives(tmp_path):
    from httpedge.logs import configure_logging, log_access, request_id

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    path = tmp_path / "service.log"
    token = request_id.set("rid-1")
    captured = Records()
    try:
        with path.open("w") as out:
            configure_logging("verifier", out=out)
            log_access("POST", "/v1/verify", 200, 1.5)  # the configured handler alone: written directly
            root.addHandler(captured)  # another handler too: an ordinary record, to both
            log_access("POST", "/v1/verify", 200, 1.5)
        lines = path.read_text(encoding="utf-8").splitlines()
    finally:
        request_id.reset(token)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    direct, recorded = (json.loads(line) for line in lines)
    assert [r.name for r in captured.records] == ["civicpass.access"]  # the first line made no record
    assert direct.pop("ts") and recorded.pop("ts")
    assert list(direct.items()) == list(recorded.items())  # same fields, same order
    assert direct == {"svc": "verifier", "level": "info", "logger": "civicpass.access", "pid": os.getpid(),
                      "msg": "request", "request_id": "rid-1", "method": "POST", "route": "/v1/verify",
                      "status": 200, "ms": 1.5}
