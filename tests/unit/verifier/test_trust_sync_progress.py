"""A verifier's first trust sync on a long chain logs how far it got after each block range it read."""

from __future__ import annotations

import logging

from verifier.trust_sync import _log_progress


def test_each_range_but_the_last_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="verifier.trust_sync"):
        _log_progress(1, 5000, 12000)
        _log_progress(1, 10000, 12000)
        _log_progress(1, 12000, 12000)  # done: the sync's own result says so
    assert [r.getMessage() for r in caplog.records] == ["trust sync: read blocks 1 to 5000 of 12000",
                                                         "trust sync: read blocks 1 to 10000 of 12000"]
