"""The embedded development chain: py-evm (through eth-tester) served as JSON-RPC on 127.0.0.1."""
