"""What an operator watches on the verifier: readiness probes and metrics.

Readiness (``/readyz``, see :mod:`httpedge.health`): the database answers, Redis answers (with the Redis
replay cache), the chain answers (when the verifier follows one), and the trust snapshot is younger than
``max_snapshot_age_s``. Metrics (``/metrics``): verifications by format, policy and result code (counted in
this process), and at scrape time the snapshot's age and how far trust sync trails the chain, in blocks and
in seconds (since the chain first showed a block the snapshot has not read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

if TYPE_CHECKING:
    from verifier.api.app import Components
    from verifier.service import Verdict

__all__ = ["VERIFICATIONS", "VerifierCollector", "count_verification", "probes"]

VERIFICATIONS = Counter("civicpass_verifications_total", "Verifications answered, by format, policy and result code",
                        ("format", "policy", "result"))
_children: dict[tuple[str, str, str], Any] = {}  # labels() resolves a child per call; the hot path keeps them


def count_verification(verdict: Verdict, policy: str) -> None:
    key = (verdict.result.format or "unknown", policy, "ok" if verdict.verified else
           (verdict.result.code or verdict.decision.code or "refused"))
    child = _children.get(key)
    if child is None:
        child = _children[key] = VERIFICATIONS.labels(*key)
    child.inc()


def probes(parts: Components) -> dict[str, Callable[[], str | None]]:
    def database() -> str | None:
        with parts.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None

    def snapshot() -> str | None:
        svc = parts.verifier
        return "snapshot_stale" if svc.is_stale(svc.trust.current(), svc.clock.now()) else None

    found: dict[str, Callable[[], str | None]] = {"database": database}
    redis = getattr(parts.replay, "_redis", None)
    if redis is not None:
        def replay_cache() -> str | None:
            redis.ping()
            return None

        found["redis"] = replay_cache
    keeper = parts.keeper
    if keeper is not None and keeper.online:
        def chain() -> str | None:
            keeper.chain_head()
            return None

        found["chain"] = chain
    found["snapshot"] = snapshot
    return found


class VerifierCollector(Collector):
    def __init__(self, parts: Components) -> None:
        self.parts = parts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        svc, keeper = self.parts.verifier, self.parts.keeper
        now = svc.clock.now()
        snap = svc.trust.current()
        age = snap.age(now)
        yield GaugeMetricFamily("civicpass_snapshot_age_seconds", "Age of the trust snapshot (-1: never synced)",
                                value=-1 if age is None else age)
        if keeper is not None and keeper.online:
            blocks, seconds = keeper.lag(now)
            yield GaugeMetricFamily("civicpass_trust_sync_lag_blocks", "Chain blocks the snapshot has not read",
                                    value=blocks)
            yield GaugeMetricFamily("civicpass_trust_sync_lag_seconds",
                                    "Seconds since the chain first showed a block the snapshot has not read (0: none)",
                                    value=seconds)
