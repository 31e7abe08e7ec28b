"""scale: planner statistics for the rollup fold's hour and quarter expressions

PostgreSQL only. For the time column of every declared analytics source, extended
statistics on the expressions the fold groups by (the epoch hour, the quarter of
the hour as a dimension value, as ``folding.planner_statistics`` wrote them at this
revision: frozen here, so the migration does not change with the code; a test
holds the two equal, and a fold that changes them needs a migration of its own).
PostgreSQL 14 or later (statistics on one expression). Without them the
planner takes each expression to have as many values as the timestamp, so the
fold's ``GROUPING SETS`` looked too large to hash and were sorted once per
dimension. Each table is analyzed once so the statistics exist at once.

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-29 00:33:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, time column) of the declared sources at this revision.
SOURCES = (
    ("api_request_counts", "minute"),
    ("billing_invoices", "created_at"),
    ("billing_mrr_movements", "occurred_at"),
    ("billing_subscriptions", "created_at"),
    ("bookings", "created_at"),
    ("calls", "created_at"),
    ("campaigns", "created_at"),
    ("consultations", "created_at"),
    ("contacts", "created_at"),
    ("conversations", "created_at"),
    ("job_applications", "created_at"),
    ("lab_experiments", "occurred_at"),
    ("leads", "created_at"),
    ("ledger_entries", "created_at"),
    ("login_sessions", "created_at"),
    ("memberships", "created_at"),
    ("messages", "created_at"),
    ("pageviews", "occurred_at"),
    ("suggestion_votes", "created_at"),
    ("suggestions", "created_at"),
    ("support_tickets", "created_at"),
    ("tracked_events", "occurred_at"),
    ("visitor_sessions", "started_at"),
    ("visitors", "first_seen_at"),
    ("webinar_registrations", "created_at"),
)


# The fold's expressions of a time column, as PostgreSQL sees them (literal binds).
EXPRESSIONS = (
    ("hour", "CAST(floor(date_part('epoch', {column}) / CAST(3600 AS NUMERIC)) AS BIGINT)"),
    (
        "quarter",
        "substr(coalesce(CAST(CAST(floor(date_part('epoch', {column}) / CAST(900 AS NUMERIC))"
        " AS BIGINT) % 4 AS VARCHAR), ''), 1, 200)",
    ),
)


def planner_statistics(table: str, column: str) -> list[tuple[str, str]]:
    """(name, expression) of the statistics on ``table.column``."""
    return [
        (f"cb_fold_{name}_{table}"[:63], expression.format(column=column))
        for name, expression in EXPRESSIONS
    ]


def _present() -> list[tuple[str, str]]:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    return [
        (table, column)
        for table, column in SOURCES
        if table in tables and column in {c["name"] for c in inspector.get_columns(table)}
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _present():
        for name, expression in planner_statistics(table, column):
            op.execute(f'CREATE STATISTICS IF NOT EXISTS "{name}" ON ({expression}) FROM "{table}"')
        op.execute(f'ANALYZE "{table}"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in SOURCES:
        for name, _ in planner_statistics(table, column):
            op.execute(f'DROP STATISTICS IF EXISTS "{name}"')
