"""dedup review routing: who a possible duplicate was sent to, why, and the merge it led to

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('dedup_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('assignee', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('merge_id', ID, nullable=True))
        batch_op.create_index(batch_op.f('ix_dedup_reviews_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dedup_reviews_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dedup_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dedup_reviews_status'))
        batch_op.drop_index(batch_op.f('ix_dedup_reviews_candidate_id'))
        batch_op.drop_column('merge_id')
        batch_op.drop_column('assignee')
        batch_op.drop_column('kind')
