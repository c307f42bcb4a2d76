"""DPoP: the key a session is bound to, and the proof replay cache.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``sessions.dpop_jkt`` and ``dpop_jti``."""
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(64), nullable=True))
    op.create_table(
        "dpop_jti",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_dpop_jti_expires_at", "dpop_jti", ["expires_at"])


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("dpop_jti")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("dpop_jkt")
