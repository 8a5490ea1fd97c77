"""favourites_and_bookmarks (owned by the interactions service); posts' index for threads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS = ("favourites", "bookmarks")


def upgrade() -> None:
    for table in MARKS:
        op.create_table(
            table,
            sa.Column("account_id", sa.BigInteger(), nullable=False),
            sa.Column("post_id", sa.BigInteger(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("id", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint(
                "account_id", "post_id", name=op.f(f"uq_{table}_account_id_post_id")
            ),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_account_id_id", ["account_id", "id"], unique=False)
            batch_op.create_index(f"ix_{table}_post_id_id", ["post_id", "id"], unique=False)

    # A thread's oldest replies, read in order (GET /api/v1/statuses/:id/context).
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_posts_in_reply_to_id"))
        batch_op.create_index("ix_posts_in_reply_to_id_id", ["in_reply_to_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_in_reply_to_id_id")
        batch_op.create_index(
            batch_op.f("ix_posts_in_reply_to_id"), ["in_reply_to_id"], unique=False
        )

    for table in reversed(MARKS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_post_id_id")
            batch_op.drop_index(f"ix_{table}_account_id_id")
        op.drop_table(table)
