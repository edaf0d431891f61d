"""``localsweep sync`` keeps where it uploaded each sweep, and each run's outcome.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has them already.
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "sync_targets" not in tables:
        op.create_table(
            "sync_targets",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("sweep_id", sa.String(64), sa.ForeignKey("sweeps.id"), nullable=False),
            sa.Column("base_url", sa.String(512), nullable=False),
            sa.Column("entity", sa.String(256), nullable=False),
            sa.Column("project", sa.String(256), nullable=False),
            sa.Column("server_sweep_id", sa.String(128), nullable=False),
            sa.Column("path", sa.String(16), nullable=False),
            sa.Column("finished", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.UniqueConstraint(
                "sweep_id", "base_url", "entity", "project", name="uq_sync_targets"
            ),
        )
    if "sync_runs" not in tables:
        op.create_table(
            "sync_runs",
            sa.Column(
                "target_id", sa.Integer(), sa.ForeignKey("sync_targets.id"), primary_key=True
            ),
            sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("message", sa.Text(), nullable=True),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("sync_runs")
    op.drop_table("sync_targets")
