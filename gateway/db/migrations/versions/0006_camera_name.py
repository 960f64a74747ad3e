"""cameras.name: the camera's name from its profile (published in its status), shown instead of its id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 12:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cameras') as batch:
        batch.add_column(sa.Column('name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cameras') as batch:
        batch.drop_column('name')
