"""contacts and login sessions: their analytics change time indexed after the organization

The every-minute rollup fold finds the rows changed since its watermark by a
source's change time; where that time is indexed after the organization it asks
organization by organization (``rollup._dirty_hours``: ``org_id IN
(organizations)``), each a range of the index, and a read's data version finds its
organization's changed rows the same way. Contacts (``updated_at``) and login
sessions (``created_at``, also their time) had no such index, and the fold scanned
both tables every minute: at 1,000,000 contacts and 200,000 sessions in 1,000
organizations 290 and 90 ms, with these indexes 16 and 30 ms (1,001 index probes).
``ix_login_sessions_org_created`` also serves series of sign-ins, which read an
organization's sessions by ``created_at``. Ledger entries already find theirs by
``ix_ledger_entries_completed`` (0.1 ms); memberships stay as they are (at 50,000 the
planner still prefers scanning them: 20 ms either way).

Revision ID: 0060
Revises: 0059
Create Date: 2026-11-29 13:41:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0060"
down_revision: str | None = "0059"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_org_updated", "contacts", ["org_id", "updated_at"], unique=False)
    op.create_index(
        "ix_login_sessions_org_created", "login_sessions", ["org_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_sessions_org_created", table_name="login_sessions")
    op.drop_index("ix_contacts_org_updated", table_name="contacts")
