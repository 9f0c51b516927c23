"""per-user API tokens, field visibility, encrypted fields

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:10:00

Only the tokens need a table: visibility is configuration, and encrypted customer fields live
(as Fernet tokens) in `customers.extra`.
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('rep_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_api_tokens_rep_id'), 'api_tokens', ['rep_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_api_tokens_rep_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
