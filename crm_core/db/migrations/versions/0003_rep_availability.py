"""rep availability set in chat: an override of the YAML's org.reps[].availability

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 14:30:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rep_availability',
    sa.Column('rep_id', sa.String(length=64), nullable=False),
    sa.Column('availability', sa.String(length=16), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('set_by', sa.String(length=100), nullable=False),
    sa.Column('set_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('rep_id')
    )


def downgrade() -> None:
    op.drop_table('rep_availability')
