"""Create the initial schema: projects, keys, users, tenants, audit, flows, runs.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_projects"),
    )
    op.create_table(
        "management_keys",
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_management_keys"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name="fk_management_keys_project_id_projects",
        ),
        sa.UniqueConstraint("key_hash", name="uq_management_keys_key_hash"),
    )
    op.create_index("ix_management_keys_project_id", "management_keys", ["project_id"])

    op.create_table(
        "users",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("login_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("given_name", sa.String(), nullable=True),
        sa.Column("middle_name", sa.String(), nullable=True),
        sa.Column("family_name", sa.String(), nullable=True),
        sa.Column("verified_email", sa.Boolean(), nullable=False),
        sa.Column("verified_phone", sa.Boolean(), nullable=False),
        sa.Column("picture", sa.String(), nullable=True),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("custom_attributes", sa.JSON(), nullable=False),
        sa.Column("role_names", sa.JSON(), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("modified_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_login_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_users"),
    )
    op.create_table(
        "user_login_ids",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("login_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "login_id", name="pk_user_login_ids"),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["users.project_id", "users.user_id"],
            name="fk_user_login_ids_project_id_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_user_login_ids_project_id_user_id",
        "user_login_ids",
        ["project_id", "user_id"],
    )

    op.create_table(
        "tenants",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("self_provisioning_domains", sa.JSON(), nullable=False),
        sa.Column("custom_attributes", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("modified_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "tenant_id", name="pk_tenants"),
    )

    op.create_table(
        "consents",
        sa.Column("consent_id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("app_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_by", sa.String(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consent_id", name="pk_consents"),
    )
    op.create_index(
        "ix_consents_project_id_user_id_app_id",
        "consents",
        ["project_id", "user_id", "app_id"],
    )

    op.create_table(
        "audit_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("occurred_ms", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("actor_id", sa.String(), nullable=False),
        sa.Column("custom", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("external_ids", sa.JSON(), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("device", sa.String(), nullable=True),
        sa.Column("method", sa.String(), nullable=True),
        sa.Column("geo", sa.String(), nullable=True),
        sa.Column("remote_address", sa.String(), nullable=True),
        sa.Column("origin_event_id", sa.String(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_audit_events"),
    )
    op.create_index(
        "ix_audit_events_project_id_occurred_ms",
        "audit_events",
        ["project_id", "occurred_ms"],
    )
    op.create_index(
        "ix_audit_events_project_id_user_id", "audit_events", ["project_id", "user_id"]
    )

    op.create_table(
        "flows",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("modified_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "flow_id", name="pk_flows"),
    )
    op.create_table(
        "flow_versions",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project_id", "flow_id", "version", name="pk_flow_versions"
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "flow_id"],
            ["flows.project_id", "flows.flow_id"],
            name="fk_flow_versions_project_id_flow_id_flows",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("triggering_event_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index(
        "ix_runs_project_id_started_ms", "runs", ["project_id", "started_ms"]
    )
    op.create_index(
        "ix_runs_project_id_flow_id_started_ms",
        "runs",
        ["project_id", "flow_id", "started_ms"],
    )


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("flow_versions")
    op.drop_table("flows")
    op.drop_table("audit_events")
    op.drop_table("consents")
    op.drop_table("tenants")
    op.drop_table("user_login_ids")
    op.drop_table("users")
    op.drop_table("management_keys")
    op.drop_table("projects")
