"""The issuer service: issuance, OpenID4VCI, status lists, anchoring, keys and administration."""
