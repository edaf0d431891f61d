"""Runs say why they ended as they did (``hyperband``, ``plateau``, ...).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has the column already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "end_reason" not in columns:
        op.add_column("runs", sa.Column("end_reason", sa.String(32), nullable=True))
    op.execute("UPDATE runs SET end_reason = 'hyperband' WHERE stopped_at_band IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("end_reason")
