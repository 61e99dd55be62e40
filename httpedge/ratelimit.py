"""Per-client rate limits for both services (the ``limits`` library: sliding-window counters), in memory or in
Redis.

In memory each worker process counts on its own; with Redis (the deployment's replay cache) every worker
of every host shares one count. A refused hit raises :class:`~credcore.errors.RateLimitedError`, which the
HTTP edge answers with 429 and ``Retry-After``. If Redis cannot be reached the limit is not applied (and a
warning is logged): a rate limit protects capacity, it must not take the service down with Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from credcore.errors import RateLimitedError

__all__ = ["RateLimits", "check_rules"]

log = logging.getLogger(__name__)


def check_rules(rule: str) -> str:
    """``rule`` if ``limits`` can parse it (``"30/minute"``, ``"10/minute;100/hour"``), else ValueError."""
    parse_many(rule)
    return rule


class RateLimits:
    """Named limits (``{"requests": "30/minute"}``), each counted per client under ``namespace`` (the service's,
    so that an issuer and a verifier sharing one Redis keep apart counts)."""

    def __init__(self, rules: Mapping[str, str], *, namespace: str, redis_url: str | None = None) -> None:
        options = {"socket_timeout": 1, "socket_connect_timeout": 1} if redis_url else {}
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(redis_url or "memory://", **options))
        self._rules: dict[str, list[RateLimitItem]] = {name: parse_many(rule) for name, rule in rules.items()}
        self._namespace = namespace

    def hit(self, name: str, client: str) -> None:
        """Count one request of kind ``name`` from ``client``; raises RateLimitedError beyond the limit."""
        self._apply(name, client, count=True)

    def check(self, name: str, client: str) -> None:
        """Raise RateLimitedError if ``client`` is already at the limit for ``name``, without counting
        (for limits on failures: check before the attempt, :meth:`hit` when it fails)."""
        self._apply(name, client, count=False)

    def _apply(self, name: str, client: str, *, count: bool) -> None:
        ids = (self._namespace, name, client)
        try:
            for item in self._rules[name]:
                if not (self._limiter.hit(item, *ids) if count else self._limiter.test(item, *ids)):
                    reset = self._limiter.get_window_stats(item, *ids).reset_time
                    raise RateLimitedError(f"too many {name} requests; retry later",
                                           retry_after=max(1, math.ceil(reset - time.time())))
        except RateLimitedError:
            raise
        except Exception:  # redis-py's connection and timeout errors: count nothing rather than fail
            log.warning("rate limit store unavailable; %s not limited", name)
