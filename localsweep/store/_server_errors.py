"""What to say when a PostgreSQL server answers and turns a login away.

Retrying cannot fix these (a wrong password, a user or database the server does not know, a
role that may not log in, no CONNECT privilege, a database dropped under the sweep), so the
store raises :class:`~localsweep.errors.DatabaseURLError` at once with the fix. libpq gives
no SQLSTATE for a failed connection, so its message is read (the server's English wording,
as in the PostgreSQL docs).
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

from localsweep.store._urls import PASSWORD_HINT

__all__ = ["TOO_MANY_CONNECTIONS", "refused_login"]

#: libpq's words when every connection slot is taken (the role's or the database's
#: CONNECTION LIMIT, or the server's max_connections): the server is up, and a slot may
#: free up, so this one is retried.
TOO_MANY_CONNECTIONS = (
    "too many connections for role",
    "too many connections for database",
    "too many clients already",
    "remaining connection slots are reserved",
)


def refused_login(url: str, message: str, sqlstate: str | None, *, opened: bool) -> str | None:
    """What to fix when the server answered ``message`` (``sqlstate``, if known) and
    turned the connection to ``url`` away; ``None`` for anything else. ``opened``: this
    store had opened the database before (a database missing now was dropped)."""
    parsed = make_url(url)
    user = parsed.username or "(your login name)"
    found = re.search(r'database "([^"]*)" does not exist', message)
    if (sqlstate == "3D000" or found) and opened:
        name = found.group(1) if found else parsed.database or "DATABASE"
        return (
            f"the sweep's database {name!r} is gone from the server ({message}): it was "
            "dropped while localsweep was using it, and its sweeps and runs with it. "
            "Restore it from a backup to go on with them (a new, empty database of that "
            "name has no sweep), or create a new sweep"
        )
    if sqlstate == "3D000" or found:
        name = found.group(1) if found else parsed.database or "DATABASE"
        host = f" -h {parsed.host}" if parsed.host else ""
        port = f" -p {parsed.port}" if parsed.port else ""
        owner = f" -U {parsed.username}" if parsed.username else ""
        return (
            f"the server has no database {name!r} ({message}). Create it once with "
            f"`createdb{host}{port}{owner} {name}` (as docs/cluster.md sets it up), or "
            "correct the database name at the end of the URL"
        )
    if sqlstate == "28P01" or "password authentication failed" in message:
        return (
            f"the server rejected the password of user {user!r} ({message}). Check the "
            "user and password in the URL, or, when the URL has none, in ~/.pgpass or "
            "PGPASSWORD (a user the server does not know is reported the same way)"
        )
    if "no password supplied" in message:
        return (
            f"the server asks user {user!r} for a password and none was given "
            f"({message}): {PASSWORD_HINT}"
        )
    found = re.search(r'role "([^"]*)" is not permitted to log in', message)
    if found:
        name = found.group(1)
        return (
            f"the server does not let user {name!r} log in: the role is NOLOGIN "
            f"({message}). Let it log in with `ALTER ROLE {name} LOGIN` (as a superuser), "
            "or put a user that may log in in the URL"
        )
    found = re.search(r'permission denied for database "([^"]*)"', message)
    if found:
        name = found.group(1)
        return (
            f"user {user!r} may not connect to the database {name!r}: it lacks the "
            f"CONNECT privilege ({message}). Grant it with `GRANT CONNECT ON DATABASE "
            f"{name} TO {user}` (as the database's owner or a superuser), or put a user "
            "that has it in the URL"
        )
    found = re.search(r'role "([^"]*)" does not exist', message)
    if found or (sqlstate == "28000" and "pg_hba.conf" not in message):
        name = found.group(1) if found else user
        return (
            f"the server has no user (role) {name!r} ({message}). Check the user name "
            "in the URL (before the '@'), or create the role: "
            f"`createuser --pwprompt {name}`"
        )
    if "pg_hba.conf" in message:
        return (
            f"the server does not accept this user, database or host ({message}). Add a "
            "line for them to the server's pg_hba.conf and reload it (docs/cluster.md), or "
            "check the user and database in the URL"
        )
    return None
