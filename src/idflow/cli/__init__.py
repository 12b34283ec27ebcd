"""The `idflow` command line."""
