"""calls: fewer index entries per call, the dial stamp a HOT update

A call is written four times in its first minutes (placed, stamped for dialing,
given the carrier's id, finished), each write an entry in all ten of its indexes
unless it is a HOT update (no indexed column changed, the new version on the row's
page). And each call's charge wrote a ledger row into eight indexes.

* ``calls``: on PostgreSQL ``fillfactor`` 70 leaves each page room for a row's next
  version, so the dial stamp (which changes no indexed column) stays on its page.
  ``ix_calls_org_to`` is dropped: calls are looked up by number with ``to_number OR
  from_number`` (or ``contact_id``), which an index of ``to_number`` alone does not
  serve (``ix_calls_org_created`` leads with the organization as well).
  ``ix_calls_org_user``, ``ix_calls_org_agent_session`` and
  ``ix_calls_personal_data_expires_at`` hold only the calls that have a value (every
  query names one, or a bound on it, which implies NOT NULL); so do the unique keys
  of the carrier's call id (empty until the call is dialed) and of the placing
  request's Idempotency-Key (most calls are placed without one), now partial unique
  indexes instead of constraints (empty values never clashed).
* ``ledger_entries``: ``ix_ledger_entries_provider_txn`` and
  ``ix_ledger_entries_refund_of`` hold only payments and refunds (a call's charge has
  neither).

Revision ID: 0055
Revises: 0054
Create Date: 2026-11-29 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLS_FILLFACTOR = 70
# (index, table, columns): each becomes partial, on rows where its last column is set.
_PARTIAL = (
    ("ix_calls_org_user", "calls", ["org_id", "user_id"]),
    ("ix_calls_org_agent_session", "calls", ["org_id", "agent_session_id"]),
    ("ix_calls_personal_data_expires_at", "calls", ["personal_data_expires_at"]),
    ("ix_ledger_entries_provider_txn", "ledger_entries", ["provider_transaction_id"]),
    ("ix_ledger_entries_refund_of", "ledger_entries", ["refund_of"]),
)

# Unique keys of columns a call may leave empty: partial unique indexes instead of
# constraints (the same rule: empty values never clashed).
_UNIQUE = (
    ("uq_calls_provider_call_id", ["provider", "provider_call_id"]),
    ("uq_calls_org_idempotency_key", ["org_id", "idempotency_key"]),
)
_CONSTRAINTS = {
    "uq_calls_provider_call_id": "uq_calls_provider_provider_call_id",
    "uq_calls_org_idempotency_key": "uq_calls_org_id_idempotency_key",
}


def _where(column: str) -> dict[str, object]:
    clause = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": clause, "sqlite_where": clause}


def upgrade() -> None:
    for name, table, columns in _PARTIAL:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False, **_where(columns[-1]))
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_org_to")
        for name, columns in _UNIQUE:
            batch_op.drop_constraint(_CONSTRAINTS[name], type_="unique")
            batch_op.create_index(name, columns, unique=True, **_where(columns[-1]))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE calls SET (fillfactor = {CALLS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE calls RESET (fillfactor)")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        for name, columns in reversed(_UNIQUE):
            batch_op.drop_index(name)
            batch_op.create_unique_constraint(_CONSTRAINTS[name], columns)
        batch_op.create_index("ix_calls_org_to", ["org_id", "to_number"], unique=False)
    for name, table, columns in reversed(_PARTIAL):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
