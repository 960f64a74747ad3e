"""index on media(path): media are looked up by path (their id is the file name)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 18:20:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_media_path', 'media', ['path'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_media_path', table_name='media')
