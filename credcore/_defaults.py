"""The only wall-clock and OS-randomness users in credcore: default implementations of the ports."""

from __future__ import annotations

import secrets
import threading
import time

from credcore._b64 import b64u_encode

__all__ = ["MemoryReplayGuard", "SecretsSaltSource", "SystemClock"]


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class SecretsSaltSource:
    def salt(self) -> str:
        return b64u_encode(secrets.token_bytes(16))


class MemoryReplayGuard:
    """A single-process replay guard for the CLI and tests; services use a shared SQL or Redis cache."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def first_use(self, key: bytes, expires_at: int) -> bool:
        # Atomic: a service asks its guard from worker threads (verifier.service.verify_async).
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = expires_at
            return True
