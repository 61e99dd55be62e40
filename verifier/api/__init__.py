"""HTTP edge of the verifier: app factory, routes, schemas and the one error-to-HTTP mapping."""
