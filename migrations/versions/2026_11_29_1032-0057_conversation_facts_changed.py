"""conversations: an indexed change time of what metrics read, apart from filing's

Migration 0047 dropped ``ix_conversations_org_updated`` so that filing's
per-message UPDATE of a conversation (times, counts, ``updated_at``) changes no
indexed column and stays HOT; analytics' change time (``updated_at``) then had no
index, and every read of conversation metrics (its data version: quarter hours
holding facts changed since the watermark) and the fold's changed-rows read
scanned the whole range. ``facts_changed_at`` moves only when a column
conversation metrics read changes (``messaging.models.FACT_COLUMNS``: a status, an
assignment, a first response, not filing's times and counts) and is indexed with
the organization (``ix_conversations_org_facts_changed``: a read's data version,
and the fold's rows changed since its watermark, read organization by organization).
Filing's UPDATE still changes no indexed column. Existing rows take their ``updated_at``.

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-29 10:32:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commbase.core.db import UTCDateTime

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("conversations", sa.Column("facts_changed_at", UTCDateTime(), nullable=True))
        op.execute("UPDATE conversations SET facts_changed_at = updated_at")
        op.alter_column("conversations", "facts_changed_at", nullable=False)
    else:
        # SQLite adds a NOT NULL column only with a default (rewriting the table
        # instead would, with foreign keys on, cascade its deletion to messages).
        op.execute(
            "ALTER TABLE conversations ADD COLUMN facts_changed_at DATETIME NOT NULL "
            "DEFAULT '1970-01-01 00:00:00.000000'"
        )
        op.execute("UPDATE conversations SET facts_changed_at = updated_at")
    op.create_index(
        "ix_conversations_org_facts_changed",
        "conversations",
        ["org_id", "facts_changed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_org_facts_changed", table_name="conversations")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("conversations", "facts_changed_at")
    else:
        op.execute("ALTER TABLE conversations DROP COLUMN facts_changed_at")
