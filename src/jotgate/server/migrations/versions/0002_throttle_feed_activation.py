"""Login throttling, the revocation feed, and delayed key activation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jotgate.server.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``login_throttle``, ``revocation_feed`` and ``signing_keys.activates_at``."""
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_login_throttle_expires_at", "login_throttle", ["expires_at"])
    op.create_table(
        "revocation_feed",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(36), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_revocation_feed_expires_at", "revocation_feed", ["expires_at"])
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("activates_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("activates_at")
    op.drop_table("revocation_feed")
    op.drop_table("login_throttle")
