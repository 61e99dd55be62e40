"""Protocols for what the pure core needs from outside: a clock, a salt source, a replay guard.

Implementations that touch the wall clock or OS randomness live in :mod:`credcore._defaults`; services
inject their own (a SQL or Redis replay cache, a fixed clock in tests).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ReplayGuard", "SaltSource"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> int:
        """Current time as unix seconds."""
        ...


@runtime_checkable
class SaltSource(Protocol):
    def salt(self) -> str:
        """A fresh base64url salt with at least 128 bits of entropy (RFC 9901 §4.2.1)."""
        ...


@runtime_checkable
class ReplayGuard(Protocol):
    def first_use(self, key: bytes, expires_at: int) -> bool:
        """Record ``key`` until ``expires_at``; True the first time, False if it was already recorded.

        Must be atomic across the verifier's workers (check-and-set in one step).
        """
        ...
