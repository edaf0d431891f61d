"""Runs can be prior runs: done before the sweep, given to it to learn from (``-R``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has the columns already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "prior" not in columns:
        op.add_column(
            "runs",
            sa.Column("prior", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    if "prior_source" not in columns:
        op.add_column("runs", sa.Column("prior_source", sa.Text(), nullable=True))
    if "prior_run_id" not in columns:
        op.add_column("runs", sa.Column("prior_run_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("prior_run_id")
        batch.drop_column("prior_source")
        batch.drop_column("prior")
