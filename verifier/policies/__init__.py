"""Verification policies: what a check needs, as YAML data, and a pure evaluator.

A policy names the credential types and issuers it accepts, the claims it needs and predicates over
them (``age_over_19 == true``, ``district in [...]``, a programme not already received). The evaluator
turns a verified :class:`~credcore.verification.VerificationResult` into a :class:`PolicyDecision` with
reasons that carry stable codes and Korean/English messages for the counter page. No I/O here beyond
:func:`load_policies`, which reads the YAML files once at start-up.
"""

from verifier.policies.evaluator import PolicyDecision, PolicyReason, evaluate
from verifier.policies.model import Policy, Predicate, load_policies, parse_policy

__all__ = ["Policy", "PolicyDecision", "PolicyReason", "Predicate", "evaluate", "load_policies", "parse_policy"]
