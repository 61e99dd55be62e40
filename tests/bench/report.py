"""Write BENCHMARKS.md from one ``scripts/bench`` run, so the file always says which machine, which day and
which budgets passed (issue #7): the pytest-benchmark JSON carries every budget the benchmarks recorded with
``tests/bench/budget.py``; the JUnit XML says which benchmarks were skipped or broke before recording.

A partial run (test paths, ``-k``, ``-m``, ``--deselect``, ``-x``...) writes a report of what ran only, and says so
at the top: rows of budgets that did not run are not kept from an older report.

    python tests/bench/report.py --json RUN.json --junit RUN.xml --out BENCHMARKS.md [...] -- PYTEST-ARGS
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import ssl
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SYMBOL = {"<": "<", "<=": "≤", ">=": "≥", ">": ">"}
SELECTING = ("-k", "-m", "-x", "--exitfirst", "--maxfail", "--deselect", "--lf", "--last-failed", "--sw")


def number(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"  # three significant digits: 23.5, 4.75, 0.0235


def with_unit(value: float, unit: str) -> str:
    if not unit:
        return number(value)
    return f"{number(value)}{unit}" if unit.startswith(("/", "x")) else f"{number(value)} {unit}"


def is_partial(args: list[str]) -> bool:
    """Whether the pytest arguments select a subset of tests/bench (output options such as -s or -v do not)."""
    for arg in args:
        path = arg.split("::")[0]
        if arg.startswith(SELECTING) or (not arg.startswith("-") and (path.endswith(".py") or Path(path).exists())):
            return True
    return False


def _read(path: Path, prefix: str) -> str:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine(load_start: str, load_end: str) -> list[tuple[str, str]]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = _read(Path("/proc/meminfo"), "MemTotal")
    if mem.endswith(" kB"):
        mem = f"{int(mem[:-3]) / 1024 / 1024:.1f} GiB"
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        crypto_ssl = f"{backend.openssl_version_text()} (cryptography)"
    except ImportError:
        crypto_ssl = "cryptography not installed"
    return [
        ("CPU", f"{_read(Path('/proc/cpuinfo'), 'model name')}, {cpus} cores usable ({os.cpu_count()} online)"),
        ("Memory", mem),
        ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("OpenSSL", f"{crypto_ssl}; {ssl.OPENSSL_VERSION} (Python ssl)"),
        ("Load average (1, 5, 15 min)", f"{load_start} at start, {load_end} at end"),
    ]


def not_run(junit: Path) -> list[tuple[str, str, str]]:
    """(test, outcome, message) for every test that was skipped, failed before recording, or errored."""
    if not junit.exists():
        return []
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for kind in ("skipped", "error", "failure"):
            node = case.find(kind)
            if node is not None and "--benchmark-only" not in (node.get("message") or ""):
                name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
                out.append((name, kind, " ".join((node.get("message") or "").split())[:200]))
    return out


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(extra: dict[str, Any]) -> list[str]:
    """Other recorded figures: scalars as one table, a dict of dicts (e.g. per history size) as a matrix."""
    lines, scalars = [], {k: v for k, v in extra.items() if k != "budgets" and not isinstance(v, dict)}
    if scalars:
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {_cell(k)} | {_cell(number(v))} |" for k, v in scalars.items()]
    nested = {k: v for k, v in extra.items() if isinstance(v, dict)}
    if nested:
        columns = list(dict.fromkeys(c for row in nested.values() for c in row))
        lines += ["", "| | " + " | ".join(map(_cell, columns)) + " |", "|---|" + "---:|" * len(columns)]
        lines += [f"| {_cell(k)} | " + " | ".join(_cell(number(row.get(c, ""))) for c in columns) + " |"
                  for k, row in nested.items()]  # fmt: skip
    return lines


def render(run: dict[str, Any], *, skipped: list[tuple[str, str, str]], args: list[str], exit_code: int,
           load_start: str, load_end: str, started: datetime, ended: datetime) -> str:
    benches = run.get("benchmarks", [])
    budgets = [(b, bench) for bench in benches for b in bench.get("extra_info", {}).get("budgets", [])]
    failed = [b for b, _ in budgets if not b["passed"] and b.get("asserted", True)]
    reported = [b for b, _ in budgets if not b["passed"] and not b.get("asserted", True)]
    command = shlex.join(["scripts/bench", *args])
    lines = ["# Benchmarks", ""]
    if is_partial(args):
        lines += [f"**Partial run** (`{command}`): only the benchmarks it selected are listed; run `scripts/bench` "
                  "with no arguments for the whole suite.", ""]  # fmt: skip
    minutes = (ended - started).total_seconds() / 60
    lines += [
        f"Written by `{command}` on {ended:%Y-%m-%d %H:%M} UTC (started {started:%H:%M}, {minutes:.1f} min); "
        f"pytest exit code {exit_code}. Regenerate with `scripts/bench`.",
        "",
        f"**{len(budgets)} budgets: {len(budgets) - len(failed) - len(reported)} pass, {len(failed)} fail"
        + (f", {len(reported)} fail but reported only (see notes)" if reported else "") + ".**",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine(load_start, load_end)),
    ]
    commit = run.get("commit_info") or {}
    if commit.get("id"):
        lines.append(f"- Commit: {commit['id'][:12]}{' (with uncommitted changes)' if commit.get('dirty') else ''}")
    lines += ["", "## Budgets", "", "| Issue | Budget | Figure | Target | Result | Note |",
              "|---|---|---:|---:|---|---|"]  # fmt: skip
    for b, _ in sorted(budgets, key=lambda pair: pair[0]["issue"]):
        result = "pass" if b["passed"] else ("**FAIL**" if b.get("asserted", True) else "fail (reported)")
        target = f"{SYMBOL[b['op']]} {with_unit(b['target'], b['unit'])}"
        lines.append(f"| #{b['issue']} | {_cell(b['what'])} | {with_unit(b['value'], b['unit'])} | {target} "
                     f"| {result} | {_cell(b.get('note', ''))} |")  # fmt: skip
    if skipped:
        lines += ["", "## Benchmarks skipped or failed", "", "| Test | Outcome | Reason |",
                  "|---|---|---|"]  # fmt: skip
        lines += [f"| {_cell(name)} | {kind} | {_cell(msg)} |" for name, kind, msg in skipped]
    lines += ["", "## Other figures", ""]
    for bench in benches:
        stats = bench.get("stats") or {}
        lines += [f"### {bench['fullname'].removeprefix('tests/bench/')}", ""]
        if stats.get("rounds"):
            lines += [f"pytest-benchmark: median {stats['median'] * 1000:.3f} ms, min {stats['min'] * 1000:.3f} ms "
                      f"over {stats['rounds']} round(s).", ""]  # fmt: skip
        figures = _figures(bench.get("extra_info", {}))
        lines += [*figures, ""] if figures else []
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--junit", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exit-code", type=int, required=True)
    parser.add_argument("--load-start", required=True)
    parser.add_argument("--started", type=int, required=True, help="UTC epoch seconds")
    parser.add_argument("pytest_args", nargs="*")
    opts = parser.parse_args()
    if opts.exit_code not in (0, 1) or not opts.json.exists():
        print(f"bench: pytest exit code {opts.exit_code}, no complete results: {opts.out} left unchanged")
        return 0
    text = render(json.loads(opts.json.read_text()), skipped=not_run(opts.junit), args=opts.pytest_args,
                  exit_code=opts.exit_code, load_start=opts.load_start, load_end=_loadavg(),
                  started=datetime.fromtimestamp(opts.started, UTC), ended=datetime.now(UTC))  # fmt: skip
    opts.out.write_text(text)
    print(f"bench: wrote {opts.out}")
    return 0


def _loadavg() -> str:
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
