"""visit notes, stage-entry actions, coaching pushes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


# No tables: a visit note is a `visit_note` activity (parts in its JSON) plus a task, the stage-entry
# answers a `stage_entry` activity, a coaching push a `reminders` row (its dedupe key); the open
# visit-note conversation lives in the KV. The slot stays in the chain for the revision ids.
def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
