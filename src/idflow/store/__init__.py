"""The store: tables, migrations and every query idflow makes."""
