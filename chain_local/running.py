"""What starting a dev chain returns, whichever engine runs it (no py-evm import, so anvil users stay light)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain_local.accounts import DevAccount


@dataclass
class RunningChain:
    """A chain that is up: its RPC URL, chain id, dev accounts and how to stop it (idempotent)."""

    url: str
    chain_id: int
    engine: str  # "embedded" | "anvil"
    fork: str
    accounts: tuple[DevAccount, ...]
    state_path: Path | None
    _stop: Any = field(repr=False)
    #: the in-process :class:`chain_local.node.EmbeddedChain` (embedded engine only), for tests and benchmarks
    node: Any = field(default=None, repr=False)

    def stop(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> RunningChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
