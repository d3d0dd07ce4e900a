"""chunk files named by the write that made them

Each stored chunk row names its file's write token, so a request can only ever remove the file it
wrote itself, and only when the catalog did not record it (see ingest_service/engine.py).
A NULL token is a chunk written before this revision, under the old index-only name.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("file_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("file_token")
