"""BENCHMARKS.md shows every recorded budget with its figure, target and verdict (issue #7); these tests check the
record helper and the renderer on a made-up run, without running any benchmark."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tests.bench.budget import record
from tests.bench.report import is_partial, not_run, render


def _bench(name: str) -> SimpleNamespace:
    return SimpleNamespace(extra_info={}, name=name)


def test_record_appends_one_entry_per_budget_and_returns_the_verdict() -> None:
    bench = _bench("x")
    assert record(bench, issue=3, what="anchor gas", value=48_000, op="<=", target=50_000, unit="gas")
    assert not record(bench, issue=3, what="tree", value=60.0, op="<", target=60.0, unit="s")
    assert [b["passed"] for b in bench.extra_info["budgets"]] == [True, False]
    with pytest.raises(ValueError, match="op must be"):
        record(bench, issue=3, what="bad", value=1, op="==", target=1, unit="")


def test_render_lists_every_budget_with_figure_target_and_verdict() -> None:
    ok, slow = _bench("ok"), _bench("slow")
    record(ok, issue=2, what="CP1 verify", value=3_612.4, op=">=", target=3_500, unit="/s")
    ok.extra_info.update(crypto_floor_per_second=4_100, history_0={"p50_ms": 1.2}, history_5000={"p50_ms": 1.4})
    record(slow, issue=6, what="wallet open", value=1.25, op="<", target=1.0, unit="s")
    record(slow, issue=2, what="absolute", value=3_000, op=">=", target=3_500, unit="/s", asserted=False, note="why")
    run = {"benchmarks": [{"fullname": "tests/bench/test_a.py::test_ok", "extra_info": ok.extra_info, "stats": {}},
                          {"fullname": "tests/bench/test_b.py::test_slow", "extra_info": slow.extra_info}]}
    text = render(run, skipped=[("test_c::test_pg", "skipped", "no PostgreSQL")], args=["tests/bench/test_a.py"],
                  exit_code=1, load_start="1.0, 1.0, 1.0", load_end="2.0, 1.5, 1.1",
                  started=datetime(2026, 11, 23, 0, 0, tzinfo=UTC), ended=datetime(2026, 11, 23, 0, 5, tzinfo=UTC))
    assert "**Partial run**" in text and "2026-11-23 00:05 UTC" in text and "pytest exit code 1" in text
    assert "| #2 | CP1 verify | 3,612/s | ≥ 3,500/s | pass |  |" in text
    assert "| #6 | wallet open | 1.25 s | < 1 s | **FAIL** |  |" in text
    assert "| #2 | absolute | 3,000/s | ≥ 3,500/s | fail (reported) | why |" in text
    assert "3 budgets: 1 pass, 1 fail, 1 fail but reported only" in text
    assert "| test_c::test_pg | skipped | no PostgreSQL |" in text
    assert "| crypto_floor_per_second | 4,100 |" in text and "| history_5000 | 1.4 |" in text
    assert "Load average (1, 5, 15 min): 1.0, 1.0, 1.0 at start, 2.0, 1.5, 1.1 at end" in text


def test_only_selecting_arguments_make_a_partial_run() -> None:
    assert not is_partial([]) and not is_partial(["-s", "-v"])
    assert is_partial(["-k", "wallet"]) and is_partial(["tests/bench/test_cp1_bench.py::test_verify_cp1_throughput"])


def test_not_run_reads_skips_and_errors_but_not_benchmark_only_skips(tmp_path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase classname="tests.bench.test_x" name="test_a">'
        '<skipped message="needs wrk"/></testcase><testcase classname="tests.bench.test_x" name="test_b">'
        '<skipped message="Skipping non-benchmark (--benchmark-only active)."/></testcase>'
        '<testcase classname="tests.bench.test_x" name="test_c"><error message="fixture broke"/></testcase>'
        "</testsuite></testsuites>"
    )
    assert not_run(junit) == [("test_x::test_a", "skipped", "needs wrk"), ("test_x::test_c", "error", "fixture broke")]
    assert not_run(tmp_path / "missing.xml") == []
