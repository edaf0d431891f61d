"""Runs keep the band of a stop hyperband requested while judging another run.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has the column already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "stop_requested_band" not in columns:
        op.add_column("runs", sa.Column("stop_requested_band", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("stop_requested_band")
