"""orders, touchpoints, attribution and CLV

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ident = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    utc = crm_core.db.types.UTCDateTime(timezone=True)
    op.create_table('orders',
    sa.Column('id', ident, nullable=False),
    sa.Column('customer_id', ident, nullable=False),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('gross_margin', sa.Float(), nullable=False),
    sa.Column('ordered_at', utc, nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('is_fraud', sa.Boolean(), nullable=False),
    sa.Column('created_at', utc, nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'external_id', name='uq_orders_source_external')
    )
    op.create_index('ix_orders_customer_at', 'orders', ['customer_id', 'ordered_at'], unique=False)
    op.create_index('ix_orders_ordered_at', 'orders', ['ordered_at'], unique=False)
    op.create_table('touchpoints',
    sa.Column('id', ident, nullable=False),
    sa.Column('customer_id', ident, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('at', utc, nullable=False),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('clv_impact', sa.Boolean(), nullable=False),
    sa.Column('winback_probability', sa.Float(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', utc, nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'external_id', name='uq_touchpoints_source_external')
    )
    op.create_index('ix_touchpoints_customer_at', 'touchpoints', ['customer_id', 'at'], unique=False)
    op.create_table('attribution_credits',
    sa.Column('id', ident, nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=16), nullable=False),
    sa.Column('margin', sa.Float(), nullable=False),
    sa.Column('orders', sa.Float(), nullable=False),
    sa.Column('computed_at', utc, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_attribution_model_month', 'attribution_credits', ['model', 'month'], unique=False)
    op.create_table('clv_snapshots',
    sa.Column('id', ident, nullable=False),
    sa.Column('customer_id', ident, nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('clv', sa.Float(), nullable=False),
    sa.Column('previous', sa.Float(), nullable=True),
    sa.Column('monthly_margin', sa.Float(), nullable=False),
    sa.Column('alive', sa.Float(), nullable=False),
    sa.Column('last_interaction', utc, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'as_of', name='uq_clv_customer_day')
    )
    op.create_index('ix_clv_as_of', 'clv_snapshots', ['as_of'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_clv_as_of', table_name='clv_snapshots')
    op.drop_table('clv_snapshots')
    op.drop_index('ix_attribution_model_month', table_name='attribution_credits')
    op.drop_table('attribution_credits')
    op.drop_index('ix_touchpoints_customer_at', table_name='touchpoints')
    op.drop_table('touchpoints')
    op.drop_index('ix_orders_ordered_at', table_name='orders')
    op.drop_index('ix_orders_customer_at', table_name='orders')
    op.drop_table('orders')
