"""reports: what people reported (Open311, patrols), with the reporter's contact kept apart

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 13:10:00
"""
import sqlalchemy as sa

import gateway.db.models
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reports',
        sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('service_code', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('media_url', sa.Text(), nullable=True),
        sa.Column('reporter', sa.JSON(), nullable=False),
        sa.Column('submitted_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', gateway.db.models.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('reports')
