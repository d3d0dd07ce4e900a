"""renditions: derived outputs with their own lifecycle

A video is READY when it is watchable; its compressed MP4 is now a rendition with its own state.
Existing videos get one COMPRESSED rendition each: READY where the compressed asset exists,
FAILED for a READY video without one (retry it explicitly), PENDING otherwise.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column("video_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("video_id", "kind"),
    )
    op.create_index("ix_renditions_state_queued", "renditions", ["state", "queued_at"], unique=False)
    op.execute("""
        INSERT INTO renditions (video_id, kind, owner_id, state, progress, error, attempts, queued_at, updated_at)
        SELECT v.id, 'COMPRESSED', v.owner_id,
               CASE WHEN EXISTS (SELECT 1 FROM assets a WHERE a.video_id = v.id AND a.kind = 'COMPRESSED')
                    THEN 'READY'
                    WHEN v.status = 'READY' THEN 'FAILED'
                    ELSE 'PENDING' END,
               CASE WHEN EXISTS (SELECT 1 FROM assets a WHERE a.video_id = v.id AND a.kind = 'COMPRESSED')
                    THEN 1.0 ELSE 0.0 END,
               CASE WHEN v.status = 'READY'
                         AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.video_id = v.id AND a.kind = 'COMPRESSED')
                    THEN 'made before renditions existed; retry it to encode' END,
               0, v.updated_at, v.updated_at
        FROM videos v WHERE v.status <> 'DELETED'
    """)


def downgrade() -> None:
    op.drop_index("ix_renditions_state_queued", table_name="renditions")
    op.drop_table("renditions")
