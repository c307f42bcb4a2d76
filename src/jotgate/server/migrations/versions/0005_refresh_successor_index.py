"""Index ``refresh_tokens.successor_id``: every rotation looks a token up by it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``ix_refresh_tokens_successor_id``."""
    op.create_index("ix_refresh_tokens_successor_id", "refresh_tokens", ["successor_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_index("ix_refresh_tokens_successor_id", table_name="refresh_tokens")
