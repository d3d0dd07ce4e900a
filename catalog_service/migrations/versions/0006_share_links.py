"""share links

share_links holds the public watch links of videos (issue 18): an unguessable id, the video and its
owner, whether the page offers a download, and when the link expires or was revoked.

Revision ID: 0006
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("video_id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("allow_download", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_share_links_video_id", "share_links", ["video_id"], unique=False)
    op.create_index("ix_share_links_owner_created", "share_links", ["owner_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_share_links_owner_created", table_name="share_links")
    op.drop_index("ix_share_links_video_id", table_name="share_links")
    op.drop_table("share_links")
