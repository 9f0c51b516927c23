"""approval flows (versioned), approvals, their steps

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('approval_flow_versions',
    sa.Column('id', ID, nullable=False),
    sa.Column('flow', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow', 'version', name='uq_approval_flow_version')
    )
    op.create_table('approvals',
    sa.Column('id', ID, nullable=False),
    sa.Column('flow', sa.String(length=32), nullable=False),
    sa.Column('flow_version_id', ID, nullable=False),
    sa.Column('lead_id', ID, nullable=False),
    sa.Column('submitter', sa.String(length=64), nullable=False),
    sa.Column('amount_cny', sa.BigInteger(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('previous_id', ID, nullable=True),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('node_index', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=True),
    sa.Column('node_started_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['flow_version_id'], ['approval_flow_versions.id'], ),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
    sa.ForeignKeyConstraint(['previous_id'], ['approvals.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_approvals_lead_id', 'approvals', ['lead_id'], unique=False)
    op.create_index('ix_approvals_submitter', 'approvals', ['submitter'], unique=False)
    op.create_index('ix_approvals_status', 'approvals', ['status'], unique=False)
    op.create_table('approval_steps',
    sa.Column('id', ID, nullable=False),
    sa.Column('approval_id', ID, nullable=False),
    sa.Column('node_index', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=40), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('once', sa.String(length=80), nullable=True),
    sa.Column('created_at', crm_core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['approvals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('once')
    )
    op.create_index('ix_approval_steps_approval_id', 'approval_steps', ['approval_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_approval_steps_approval_id', table_name='approval_steps')
    op.drop_table('approval_steps')
    op.drop_index('ix_approvals_status', table_name='approvals')
    op.drop_index('ix_approvals_submitter', table_name='approvals')
    op.drop_index('ix_approvals_lead_id', table_name='approvals')
    op.drop_table('approvals')
    op.drop_table('approval_flow_versions')
