"""Sweep membership, many-to-many (`sweep_runs`): a run reused by a later sweep is a
member of both; filled from `runs.sweep_id` for the runs already listed.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from flowtime.adapters.catalog.schema import DOWNGRADES, statements

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(revision):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADES[revision]:
        op.execute(statement)
