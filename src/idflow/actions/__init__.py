"""Management actions a flow step can run: users, tenants, consents, audit."""
