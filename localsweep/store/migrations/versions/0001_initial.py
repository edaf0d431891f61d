"""The first schema: sweeps, runs, history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from localsweep.store._models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables as the current models have them; later revisions add only what is
    # missing, so that both a database from this revision and a new one end up alike.
    Base.metadata.create_all(op.get_bind())


def downgrade() -> None:
    Base.metadata.drop_all(op.get_bind())
