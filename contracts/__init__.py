"""Solidity sources, committed compiled artifacts and typed Python bindings for civicpass's registries."""
