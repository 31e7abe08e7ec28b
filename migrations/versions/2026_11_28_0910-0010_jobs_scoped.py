"""jobs scoped: a job run records the organization it was for (NULL: every one)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db  # noqa: F401

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ix_job_runs_org_job_started", ["org_id", "job_name", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_org_job_started")
        batch_op.drop_column("org_id")
