"""messaging: fewer index entries per inbound message and HOT conversation updates

Inbound filing wrote 13 index entries per message and rewrote 10 per conversation
update. Indexes no query needs go, and those of outbound-only columns skip
inbound rows:

* ``conversations``: ``ix_conversations_org_last_activity`` (no query reads it;
  conversations list by id) and ``ix_conversations_org_updated`` (analytics' change
  time, read with the organization and a creation-time range, which
  ``ix_conversations_org_created`` serves) are dropped, so filing's UPDATE (times
  and counts) changes no indexed column; on PostgreSQL ``fillfactor`` 70 leaves each
  page room for those updates to stay on it (HOT: no index entry written).
* ``messages``: ``ix_messages_org_status`` is dropped (status is read with the
  organization and a time range, or alone, which ``ix_messages_due`` leads with);
  ``ix_messages_org_campaign`` holds only campaign messages and the Idempotency-Key
  unique key only messages sent with one (partial indexes; queries name a value,
  which implies NOT NULL).

Revision ID: 0047
Revises: 0046
Create Date: 2026-11-29 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONVERSATIONS_FILLFACTOR = 70


def _where(column: str) -> dict[str, object]:
    clause = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": clause, "sqlite_where": clause}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_org_last_activity")
        batch_op.drop_index("ix_conversations_org_updated")
    if postgresql:
        op.execute(f"ALTER TABLE conversations SET (fillfactor = {CONVERSATIONS_FILLFACTOR})")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_org_status")
        batch_op.drop_index("ix_messages_org_campaign")
        batch_op.drop_constraint("uq_messages_org_id_idempotency_key", type_="unique")
        batch_op.create_index(
            "ix_messages_org_campaign", ["org_id", "campaign_id"], **_where("campaign_id")
        )
        batch_op.create_index(
            "uq_messages_org_idempotency_key",
            ["org_id", "idempotency_key"],
            unique=True,
            **_where("idempotency_key"),
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_org_idempotency_key")
        batch_op.drop_index("ix_messages_org_campaign")
        batch_op.create_unique_constraint(
            "uq_messages_org_id_idempotency_key", ["org_id", "idempotency_key"]
        )
        batch_op.create_index("ix_messages_org_campaign", ["org_id", "campaign_id"], unique=False)
        batch_op.create_index("ix_messages_org_status", ["org_id", "status"], unique=False)
    if postgresql:
        op.execute("ALTER TABLE conversations RESET (fillfactor)")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_org_updated", ["org_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_last_activity", ["org_id", "last_activity_at"], unique=False
        )
