"""The Descope-compatible management HTTP API."""
