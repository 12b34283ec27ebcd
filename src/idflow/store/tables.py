"""The schema of every idflow table, declared once for queries and migrations.

Only `store/` imports this module. The Alembic history in `store/migrations`
builds the same schema by hand, and a test holds the two together. Times are
whole milliseconds since the epoch in BIGINT columns; statuses and scopes are
the lower-case values of their `StrEnum`, stored as plain strings.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

# Explicit names keep constraints identical on SQLite and PostgreSQL, so the
# hand-written migrations can name them and later batch migrations can drop them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Python None must become SQL NULL in optional JSON columns, not the JSON 'null'.
_NULLABLE_JSON = JSON(none_as_null=True)

projects = Table(
    "projects",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

management_keys = Table(
    "management_keys",
    metadata,
    Column("key_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("key_hash", String, nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    ForeignKeyConstraint(["project_id"], ["projects.project_id"]),
    Index(None, "project_id"),
)

users = Table(
    "users",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("user_id", String, primary_key=True),
    Column("login_ids", JSON, nullable=False),
    Column("status", String, nullable=False),
    Column("email", String, nullable=True),
    Column("phone", String, nullable=True),
    Column("name", String, nullable=True),
    Column("given_name", String, nullable=True),
    Column("middle_name", String, nullable=True),
    Column("family_name", String, nullable=True),
    Column("verified_email", Boolean, nullable=False),
    Column("verified_phone", Boolean, nullable=False),
    Column("picture", String, nullable=True),
    Column("test", Boolean, nullable=False),
    Column("custom_attributes", JSON, nullable=False),
    Column("role_names", JSON, nullable=False),
    Column("tenants", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    Column("last_login_ms", BigInteger, nullable=True),
)

# One row per login id: the primary key makes a login id unique in its project
# and serves the lookup by login id; users.login_ids keeps the ordered copy.
user_login_ids = Table(
    "user_login_ids",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("login_id", String, primary_key=True),
    Column("user_id", String, nullable=False),
    ForeignKeyConstraint(
        ["project_id", "user_id"],
        ["users.project_id", "users.user_id"],
        ondelete="CASCADE",
    ),
    Index(None, "project_id", "user_id"),
)

tenants = Table(
    "tenants",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("tenant_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("self_provisioning_domains", JSON, nullable=False),
    Column("custom_attributes", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("app_id", String, nullable=False),
    Column("tenant_id", String, nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("granted_by", String, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "project_id", "user_id", "app_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("occurred_ms", BigInteger, nullable=False),
    Column("action", String, nullable=False),
    Column("type", String, nullable=False),
    Column("actor_id", String, nullable=False),
    Column("custom", Boolean, nullable=False),
    Column("user_id", String, nullable=True),
    Column("tenant_id", String, nullable=True),
    Column("external_ids", JSON, nullable=False),
    Column("tenants", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Column("device", String, nullable=True),
    Column("method", String, nullable=True),
    Column("geo", String, nullable=True),
    Column("remote_address", String, nullable=True),
    Column("origin_event_id", String, nullable=True),
    Column("depth", Integer, nullable=False),
    Column("run_id", String, nullable=True),
    Index(None, "project_id", "occurred_ms"),
    Index(None, "project_id", "user_id"),
)

flows = Table(
    "flows",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("flow_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("description", String, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
)

flow_versions = Table(
    "flow_versions",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("flow_id", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", JSON, nullable=False),
    Column("note", String, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["project_id", "flow_id"],
        ["flows.project_id", "flows.flow_id"],
        ondelete="CASCADE",
    ),
)

# No foreign key to flows: a run and its trace outlive the flow that ran.
runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("flow_id", String, nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column("trigger", String, nullable=False),
    Column("status", String, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("outputs", _NULLABLE_JSON, nullable=True),
    Column("error", _NULLABLE_JSON, nullable=True),
    Column("trace", JSON, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=True),
    Column("triggering_event_id", String, nullable=True),
    Index(None, "project_id", "started_ms"),
    Index(None, "project_id", "flow_id", "started_ms"),
    # The few runs in flight, for the sweep that finds those whose process
    # stopped (services.runs.fail_abandoned_runs).
    Index(
        "ix_runs_running_started_ms",
        "started_ms",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

# Where a run with connector steps last committed, kept while it may be resumed:
# a worker that retries its delivery goes on from here instead of repeating the
# effects that committed (docs/decisions/0012). The context holds the run's
# inputs and step results unredacted, so the row goes when the run completes.
run_checkpoints = Table(
    "run_checkpoints",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("flow_id", String, nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column("task_id", String, nullable=False),
    Column("context", JSON, nullable=False),
    Column("trace", JSON, nullable=False),
    Column("saved_ms", BigInteger, nullable=False),
)

# Secrets are one ciphertext per connector; `key_id` says which key opens it, so
# a key rotation can find what is still under an old key.
connectors = Table(
    "connectors",
    metadata,
    Column("connector_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("type", String, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("secrets", String, nullable=True),
    Column("key_id", String, nullable=True),
    Column("secret_names", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(["project_id"], ["projects.project_id"]),
    UniqueConstraint("project_id", "name"),
)

# The trigger index: one row per (event type, flow) for every flow that an event
# of that type starts now, that is enabled and whose current version lists the
# type. services/triggers.py rewrites a flow's rows in the transaction of every
# save, switch and delete, so the outbox never reads a stale index.
flow_triggers = Table(
    "flow_triggers",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("event_type", String, primary_key=True),
    Column("flow_id", String, primary_key=True),
    Index(None, "project_id", "flow_id"),
)

# The outbox: one row per (event, flow), written in the event's transaction and
# worked off by workers. No foreign keys: a delivery outlives its flow, as runs do.
deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String, primary_key=True),
    Column("project_id", String, nullable=False),
    # None for an accepted API run, which `run_id` names from the start.
    Column("event_id", String, nullable=True),
    Column("flow_id", String, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("available_ms", BigInteger, nullable=False),
    Column("lease_owner", String, nullable=True),
    Column("lease_expires_ms", BigInteger, nullable=True),
    Column("last_error", _NULLABLE_JSON, nullable=True),
    Column("run_id", String, nullable=True),
    Column("skip_reason", String, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=True),
    UniqueConstraint("event_id", "flow_id"),
    Index(None, "status", "available_ms"),
    Index(None, "project_id", "status", "created_ms"),
    # Whether a run has a delivery, for the same sweep.
    Index(
        "ix_deliveries_run_id",
        "run_id",
        sqlite_where=text("run_id IS NOT NULL"),
        postgresql_where=text("run_id IS NOT NULL"),
    ),
)
