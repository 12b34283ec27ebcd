"""Services: the operations API, CLI and actions share, each with its audit event."""
