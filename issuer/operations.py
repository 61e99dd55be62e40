"""What an operator watches on the issuer: readiness probes and metrics.

Readiness (``/readyz``, see :mod:`httpedge.health`): the database answers, the chain answers (when one is
configured), and the anchoring queue moves: no batch has waited longer than ``anchor_stall_s``. Metrics
(``/metrics``): issuances by credential type (counted in this process after commit) and, read from the
database at scrape time so any worker reports the same, the anchoring queue depth, the last anchored block
and the status publication lag (how long a list with unpublished changes has gone unpublished). Chain RPC
errors are counted where every chain call passes (:class:`CountingChain`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock
from httpedge.metrics import CHAIN_RPC_ERRORS
from issuer.store.models import AnchorBatch, CredentialItem, StatusListRow

__all__ = ["ISSUANCES", "CountingChain", "IssuerCollector", "Observed", "probes"]

ISSUANCES = Counter("civicpass_issuances_total", "Credentials issued (committed), by credential type", ("type",))


class Observed(Protocol):
    """What the probes and metrics read (issuer.service.IssuerService has it), so the transaction helpers that
    count issuances here do not import the service that builds them."""

    sessions: sessionmaker[Session]
    clock: Clock
    chain: Any


class CountingChain:
    """The chain gateway, with every failed call counted in :data:`CHAIN_RPC_ERRORS`."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._chain, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception:
                CHAIN_RPC_ERRORS.labels("issuer", name).inc()
                raise

        return counted


def _queue(svc: Observed) -> tuple[int, int | None, int | None, int | None]:
    """(digests not yet anchored, oldest pending batch's created_at, last anchored block, oldest unpublished
    status change's last publication)."""
    with svc.sessions() as s:
        unbatched = s.scalar(select(func.count()).where(CredentialItem.batch_id.is_(None))) or 0
        waiting = select(func.coalesce(func.sum(AnchorBatch.count), 0), func.min(AnchorBatch.created_at))
        pending, oldest = s.execute(waiting.where(AnchorBatch.state == "pending")).one()
        last_block = s.scalar(select(func.max(AnchorBatch.block)).where(AnchorBatch.state == "anchored"))
        unpublished = s.scalar(select(func.min(func.coalesce(StatusListRow.published_at, StatusListRow.created_at)))
                               .where(StatusListRow.version > StatusListRow.published_version))
    return int(unbatched) + int(pending), oldest, last_block, unpublished


def probes(svc: Observed, *, stall_s: float) -> dict[str, Callable[[], str | None]]:
    def database() -> str | None:
        with svc.sessions() as s:
            s.execute(text("SELECT 1"))
        return None

    def anchoring() -> str | None:
        if svc.chain is None:
            return None
        _, oldest, _, _ = _queue(svc)
        return "anchoring_stalled" if oldest is not None and svc.clock.now() - oldest > stall_s else None

    found: dict[str, Callable[[], str | None]] = {"database": database}
    head = getattr(svc.chain, "head", None)
    if head is not None:
        def chain() -> str | None:
            head()
            return None

        found["chain"] = chain
    found["anchoring"] = anchoring
    return found


class IssuerCollector(Collector):
    def __init__(self, svc: Observed) -> None:
        self.svc = svc

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, _, last_block, unpublished = _queue(self.svc)
        yield GaugeMetricFamily("civicpass_anchoring_queue_depth", "Issued digests not yet anchored on chain",
                                value=depth)
        yield GaugeMetricFamily("civicpass_anchoring_last_block", "Block of the latest anchored batch (0: none)",
                                value=last_block or 0)
        lag = 0.0 if unpublished is None else max(0, self.svc.clock.now() - unpublished)
        yield GaugeMetricFamily("civicpass_status_publication_lag_seconds",
                                "Seconds since a status list with unpublished changes was last published (0: none)",
                                value=lag)
