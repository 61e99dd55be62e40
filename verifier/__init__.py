"""The verifier: trust sync from the chain, verification API, OpenID4VP, policies and the counter page.

As a library (embedded in a merchant app)::

    from verifier import MemoryReplayGuard, load_policies, verify_qr
    guard = MemoryReplayGuard()  # one per app, shared by every scan (or the app's own persistent guard)
    verdict = verify_qr(text, trust=snapshot, policy=load_policies()["age-over-19"], now=now, replay=guard)

It needs only the core install (``pip install civicpass``); the services need ``civicpass[all]``.

The service (``civicpass verifier serve``) is built by :func:`verifier.api.app.create_app`.
"""

from credcore._defaults import MemoryReplayGuard
from verifier.policies import Policy, PolicyDecision, load_policies
from verifier.service import Verdict, verify_qr

__all__ = ["MemoryReplayGuard", "Policy", "PolicyDecision", "Verdict", "load_policies", "verify_qr"]
