"""Let a delivery carry an accepted API run instead of an audit event.

An asynchronous run (`POST /v1/mgmt/flow/async/run`) is queued as a delivery
with no event and its run id set, so a worker runs it under a lease and a
crash only delays it (docs/decisions/0013). SQLite cannot relax a NOT NULL
in place, so the table is rebuilt there (Alembic's batch mode).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("event_id", existing_type=sa.String(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE event_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("event_id", existing_type=sa.String(), nullable=False)
