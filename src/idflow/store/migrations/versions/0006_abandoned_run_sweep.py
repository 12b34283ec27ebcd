"""Index the runs in flight and the deliveries that name a run.

Both are partial indexes, and small: a run is `running` only while it is being
made, and only deliveries of runs that reached a connector call, or accepted
API runs, name one. They let the workers' sweep find synchronous runs whose
process stopped while making them (`services.runs.fail_abandoned_runs`)
without reading the whole of either table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_RUNNING = sa.text("status = 'running'")
_NAMES_A_RUN = sa.text("run_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_runs_running_started_ms",
        "runs",
        ["started_ms"],
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )
    op.create_index(
        "ix_deliveries_run_id",
        "deliveries",
        ["run_id"],
        sqlite_where=_NAMES_A_RUN,
        postgresql_where=_NAMES_A_RUN,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_run_id", table_name="deliveries")
    op.drop_index("ix_runs_running_started_ms", table_name="runs")
