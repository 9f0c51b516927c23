"""morning focus check-in picks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('focus_checkins',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rep_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('picks', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=True),
    sa.Column('created_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rep_id', 'day', name='uq_focus_checkins_rep_day')
    )
    op.create_index(op.f('ix_focus_checkins_day'), 'focus_checkins', ['day'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_focus_checkins_day'), table_name='focus_checkins')
    op.drop_table('focus_checkins')
