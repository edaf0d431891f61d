"""Sweeps remember the directory of the config file they were made from, so that
``scheduler.source`` resolves relative to it in every agent, wherever it starts.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has the column already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sweeps")}
    if "config_dir" not in columns:
        op.add_column("sweeps", sa.Column("config_dir", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("config_dir")
