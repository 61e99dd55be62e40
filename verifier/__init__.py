"""The verifier: trust sync from the chain, verification API, OpenID4VP, policies and the counter page."""
