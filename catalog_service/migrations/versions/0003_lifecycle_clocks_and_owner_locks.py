"""status clock, retry count, owner locks

videos.status_changed_at says since when a video is in its status (the chunk-cleanup and purge
clocks; updated_at also moves on row locks and unrelated writes). Existing rows take updated_at,
the best estimate there is. videos.processing_retries counts owner retries (capped).
owner_locks holds one row per owner that serialises per-owner limits across replicas.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("processing_retries", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE videos SET status_changed_at = updated_at")
    with op.batch_alter_table("videos") as batch:
        batch.alter_column("status_changed_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index("ix_videos_status_changed", ["status", "status_changed_at"], unique=False)
    op.create_table(
        "owner_locks",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id"),
    )


def downgrade() -> None:
    op.drop_table("owner_locks")
    with op.batch_alter_table("videos") as batch:
        batch.drop_index("ix_videos_status_changed")
        batch.drop_column("processing_retries")
        batch.drop_column("status_changed_at")
