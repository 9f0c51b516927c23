"""uploaded chart images per platform

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
