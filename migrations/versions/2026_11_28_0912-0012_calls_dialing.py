"""calls dialing

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 09:12:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("livemode", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "dial_attempted_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("dial_reference", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("data_retention", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column(
                "personal_data_expires_at",
                commbase.core.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_calls_org_id_idempotency_key"), ["org_id", "idempotency_key"]
        )
        batch_op.create_index(
            batch_op.f("ix_calls_personal_data_expires_at"),
            ["personal_data_expires_at"],
            unique=False,
        )
    # Existing rows keep their value; new rows get theirs from the model.
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.alter_column("livemode", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_personal_data_expires_at"))
        batch_op.drop_constraint(batch_op.f("uq_calls_org_id_idempotency_key"), type_="unique")
        batch_op.drop_column("personal_data_expires_at")
        batch_op.drop_column("data_retention")
        batch_op.drop_column("request_fingerprint")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("dial_reference")
        batch_op.drop_column("dial_attempted_at")
        batch_op.drop_column("livemode")
