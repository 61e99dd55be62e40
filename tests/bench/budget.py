"""One record shape for every budget the benchmarks check, so that ``scripts/bench`` can write BENCHMARKS.md
(figure, target, pass/fail per budget) without knowing each benchmark's own ``extra_info`` layout.

A benchmark records every budget first and asserts afterwards, so that a failing budget does not hide the
figures of the budgets checked after it.
"""

from __future__ import annotations

import operator
from typing import Any

OPS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt}


def record(benchmark: Any, *, issue: int, what: str, value: float, op: str, target: float, unit: str,
           asserted: bool = True, note: str = "") -> bool:
    """Append the budget to ``benchmark.extra_info["budgets"]`` and return whether ``value op target`` holds.

    ``asserted=False`` marks a budget that is reported but not asserted (``note`` says why).
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, not {op!r}")
    passed = bool(OPS[op](value, target))
    entry = {"issue": issue, "what": what, "value": value, "op": op, "target": target, "unit": unit,
             "passed": passed, "asserted": asserted}  # fmt: skip
    if note:
        entry["note"] = note
    benchmark.extra_info.setdefault("budgets", []).append(entry)
    return passed
