"""calls media streams: calls.live_audio and phone_numbers.live_audio (the live channel
carries Twilio Media Streams audio instead of ConversationRelay text); rates.direction
(inbound minutes priced by the caller's country, as outbound by the destination's)

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-28 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("calls", "phone_numbers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("live_audio", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    with op.batch_alter_table("rates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=10), nullable=False, server_default="outbound")
        )
        batch_op.drop_constraint("uq_rates_org_id_country_line_type", type_="unique")
        batch_op.create_unique_constraint(
            "uq_rates_org_id_direction_country_line_type",
            ["org_id", "direction", "country", "line_type"],
        )


def downgrade() -> None:
    with op.batch_alter_table("rates", schema=None) as batch_op:
        batch_op.drop_constraint("uq_rates_org_id_direction_country_line_type", type_="unique")
        batch_op.execute("DELETE FROM rates WHERE direction = 'inbound'")
        batch_op.create_unique_constraint(
            "uq_rates_org_id_country_line_type", ["org_id", "country", "line_type"]
        )
        batch_op.drop_column("direction")
    for table in ("calls", "phone_numbers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("live_audio")
