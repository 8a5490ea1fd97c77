"""home feed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_feed_entries",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "post_id", name=op.f("pk_home_feed_entries")),
    )
    with op.batch_alter_table("home_feed_entries", schema=None) as batch_op:
        batch_op.create_index("ix_home_feed_entries_post_id", ["post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("home_feed_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_home_feed_entries_post_id")

    op.drop_table("home_feed_entries")
