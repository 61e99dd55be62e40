"""civicpass command line: the composition root that wires credcore, the chain and the services together."""
