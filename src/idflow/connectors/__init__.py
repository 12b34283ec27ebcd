"""Connectors: how flows reach the outside world."""
