"""Searches announce their events (issue 18): on PostgreSQL, storing a search event or changing
a search's state notifies channel ``hwnas_search_events`` with the search's id, so the API's
waiting long-polls wake at once (``services.search_notices``) instead of reading again and
again. NOTIFY is delivered at commit, once per transaction and payload. SQLite: nothing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "hwnas_search_events"
# (trigger, what it follows, the search's id in the row); its function is hwnas_<trigger>
_ANNOUNCERS = (
    ("announce_search_event", "INSERT ON search_events", "search_id"),
    ("announce_search_state", "UPDATE OF state ON searches", "id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, on, search_id in _ANNOUNCERS:
        function = f"hwnas_{trigger}"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{CHANNEL}', NEW.{search_id}); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {on} FOR EACH ROW EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, on, _ in _ANNOUNCERS:
        op.execute(f"DROP TRIGGER {trigger} ON {on.rsplit(' ', 1)[-1]}")
        op.execute(f"DROP FUNCTION hwnas_{trigger}()")
