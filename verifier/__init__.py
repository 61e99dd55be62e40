"""The verifier: trust sync from the chain, verification API, OpenID4VP, policies and the counter page.

As a library (embedded in a merchant app)::

    from verifier import load_policies, verify_qr
    verdict = verify_qr(text, trust=snapshot, policy=load_policies()["age-over-19"], now=now, replay=guard)

The service (``civicpass verifier serve``) is built by :func:`verifier.api.app.create_app`.
"""

from verifier.policies import Policy, PolicyDecision, load_policies
from verifier.service import Verdict, verify_qr

__all__ = ["Policy", "PolicyDecision", "Verdict", "load_policies", "verify_qr"]
