"""Alembic environment for localsweep's bundled migrations (run by ``localsweep db upgrade``)."""

from __future__ import annotations

from alembic import context

from localsweep.store._models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
