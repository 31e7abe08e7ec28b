"""scale rollups: one row per hour, account and value holds a pack of metrics

``metric_rollups`` is rebuilt with the packed layout (``totals``: [count, sum] of
each metric of the pack): the old rows are dropped, watermarks and custom
metrics' rollup signatures reset, so the next fold rebuilds every rollup from the
raw facts (reads are exact meanwhile: without a watermark they aggregate raw).

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-28 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.analytics.sql

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reset() -> None:
    op.execute("DELETE FROM analytics_watermarks")
    op.execute("DELETE FROM analytics_touches")
    op.execute(
        "UPDATE custom_metrics SET rollup_signature = '', rollup_error = NULL, "
        "rollup_failed_at = NULL"
    )


def _foreign_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        name=op.f("fk_metric_rollups_org_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.drop_table("metric_rollups")
    op.create_table(
        "metric_rollups",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("totals", commbase.analytics.sql.Numbers(), nullable=False),
        _foreign_key(),
        sa.PrimaryKeyConstraint(
            "org_id",
            "metric",
            "dimension",
            "hour",
            "value",
            "account",
            name=op.f("pk_metric_rollups"),
        ),
    )
    _reset()


def downgrade() -> None:
    op.drop_table("metric_rollups")
    op.create_table(
        "metric_rollups",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        _foreign_key(),
        sa.PrimaryKeyConstraint(
            "org_id",
            "metric",
            "dimension",
            "value",
            "hour",
            "account",
            name=op.f("pk_metric_rollups"),
        ),
    )
    _reset()
