"""Leases (fencing tokens) on runs, attempts of resumed runs, replay-safe history, and run
counters on sweeps so a claim never counts the sweep's runs.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the tables from the current models, so a database created from
    # scratch by `db upgrade` has every column already: add only what is missing.
    inspector = sa.inspect(op.get_bind())
    run_columns = {c["name"] for c in inspector.get_columns("runs")}
    if "lease" not in run_columns:
        op.add_column("runs", sa.Column("lease", sa.String(32), nullable=True))
    if "attempt" not in run_columns:
        op.add_column("runs", sa.Column("attempt", sa.Integer, server_default="1"))
    if "history_seq" not in run_columns:
        op.add_column("runs", sa.Column("history_seq", sa.Integer, server_default="0"))
    if "history_batch" not in run_columns:
        op.add_column("runs", sa.Column("history_batch", sa.String(32), nullable=True))
    history_columns = {c["name"] for c in inspector.get_columns("history")}
    if "seq" not in history_columns:
        op.add_column("history", sa.Column("seq", sa.Integer, nullable=True))
    indexes = {i["name"] for i in inspector.get_indexes("history")}
    uniques = {u["name"] for u in inspector.get_unique_constraints("history")}
    if "uq_history_run_seq" not in indexes | uniques:
        op.create_index("uq_history_run_seq", "history", ["run_id", "seq"], unique=True)
    sweep_columns = {c["name"] for c in inspector.get_columns("sweeps")}
    for name in ("live_count", "running_count"):
        if name not in sweep_columns:
            op.add_column("sweeps", sa.Column(name, sa.Integer, server_default="0"))
    # Counters from the runs as they are; older rows keep seq NULL (NULLs never collide).
    op.execute(
        "UPDATE sweeps SET live_count = (SELECT COUNT(*) FROM runs WHERE runs.sweep_id = "
        "sweeps.id AND runs.state NOT IN ('crashed', 'killed')), running_count = (SELECT "
        "COUNT(*) FROM runs WHERE runs.sweep_id = sweeps.id AND runs.state = 'running')"
    )
    op.execute(
        "UPDATE runs SET history_seq = (SELECT COUNT(*) FROM history WHERE history.run_id "
        "= runs.id)"
    )


def downgrade() -> None:
    op.drop_index("uq_history_run_seq", table_name="history")
    with op.batch_alter_table("history") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("runs") as batch:
        for name in ("lease", "attempt", "history_seq", "history_batch"):
            batch.drop_column(name)
    with op.batch_alter_table("sweeps") as batch:
        for name in ("live_count", "running_count"):
            batch.drop_column(name)
