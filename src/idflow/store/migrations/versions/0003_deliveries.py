"""Add event delivery: the trigger index of flows and the outbox of deliveries.

The trigger index is filled from the flows already stored, so flows saved with
event triggers before this revision start on their events as soon as it applies.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from idflow.flows.descope import parse_triggers

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_triggers",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project_id", "event_type", "flow_id", name="pk_flow_triggers"
        ),
    )
    op.create_index(
        "ix_flow_triggers_project_id_flow_id",
        "flow_triggers",
        ["project_id", "flow_id"],
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("skip_reason", sa.String(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_deliveries"),
        sa.UniqueConstraint(
            "event_id", "flow_id", name="uq_deliveries_event_id_flow_id"
        ),
    )
    op.create_index(
        "ix_deliveries_status_available_ms", "deliveries", ["status", "available_ms"]
    )
    op.create_index(
        "ix_deliveries_project_id_status_created_ms",
        "deliveries",
        ["project_id", "status", "created_ms"],
    )
    _index_stored_flows()


def downgrade() -> None:
    op.drop_index("ix_deliveries_project_id_status_created_ms", "deliveries")
    op.drop_index("ix_deliveries_status_available_ms", "deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_flow_triggers_project_id_flow_id", "flow_triggers")
    op.drop_table("flow_triggers")


def _index_stored_flows() -> None:
    conn = op.get_bind()
    flows = sa.table(
        "flows",
        sa.column("project_id"),
        sa.column("flow_id"),
        sa.column("current_version"),
        sa.column("disabled"),
    )
    versions = sa.table(
        "flow_versions",
        sa.column("project_id"),
        sa.column("flow_id"),
        sa.column("version"),
        sa.column("document", sa.JSON()),
    )
    current = sa.select(flows.c.project_id, flows.c.flow_id, versions.c.document).join(
        versions,
        sa.and_(
            versions.c.project_id == flows.c.project_id,
            versions.c.flow_id == flows.c.flow_id,
            versions.c.version == flows.c.current_version,
        ),
    )
    rows: list[dict[str, str]] = []
    for project_id, flow_id, document in conn.execute(
        current.where(flows.c.disabled.is_(False))
    ):
        metadata = (document or {}).get("metadata") or {}
        triggers = parse_triggers(metadata.get("managementConfig"))
        if triggers.enabled:
            rows.extend(
                {"project_id": project_id, "event_type": kind, "flow_id": flow_id}
                for kind in dict.fromkeys(triggers.event_types)
            )
    if rows:
        op.bulk_insert(
            sa.table(
                "flow_triggers",
                sa.column("project_id"),
                sa.column("event_type"),
                sa.column("flow_id"),
            ),
            rows,
        )
