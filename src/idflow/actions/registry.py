"""Action id to implementation: the one table the planner reads, and its connector part.

Every id in `flows.catalogue.ACTIONS` except `end` (which the engine runs itself)
must have an entry here; a unit test holds the two together.
"""

from __future__ import annotations

from idflow.actions import audit, connectors, consents, tenants, users
from idflow.engine.contract import ActionFn

_CONNECTOR_IMPLEMENTATIONS: dict[str, ActionFn] = {
    "http-connector": connectors.call_http,
    "email-connector": connectors.send_email,
    "slack-connector": connectors.post_slack,
    "teams-connector": connectors.post_teams,
    "sql-connector": connectors.query_sql,
}

ACTION_IMPLEMENTATIONS: dict[str, ActionFn] = {
    "user-load": users.load_user,
    "user-load-from-triggering-event": users.load_user_from_triggering_event,
    "user-disable": users.disable_user,
    "user-enable": users.enable_user,
    "user-update": users.update_user,
    "user-delete": users.delete_user,
    "user-add-tenant": users.add_tenant,
    "user-remove-tenant": users.remove_tenant,
    "user-add-roles": users.add_roles,
    "user-remove-roles": users.remove_roles,
    "tenant-load": tenants.load_tenant,
    "tenant-update": tenants.update_tenant,
    "consent-grant": consents.grant_consent,
    "consent-revoke": consents.revoke_consent,
    "audit-generate-event": audit.generate_event,
    **_CONNECTOR_IMPLEMENTATIONS,
}

# The actions that call the outside world. A run with one of them may wait on
# the network for seconds, so on SQLite it runs off the store thread (decision
# 0011).
CONNECTOR_ACTIONS = frozenset(_CONNECTOR_IMPLEMENTATIONS)
