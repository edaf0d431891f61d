"""Each run keeps the heartbeat timeout of the agent that holds it, so agents with different
``LOCALSWEEP_HEARTBEAT_TIMEOUT`` values judge each other's runs by the holder's timeout, not
their own (a short one reaped the live runs of an agent beating every 30 s).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created
    # from scratch by `db upgrade` has the column already. Runs claimed before have none:
    # the agent that looks judges them by its own timeout, as before.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "heartbeat_timeout" not in columns:
        op.add_column("runs", sa.Column("heartbeat_timeout", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_timeout")
