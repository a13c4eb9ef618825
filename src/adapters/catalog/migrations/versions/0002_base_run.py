"""Scenarios: the run each one was derived from (`base_run_id`), indexed for listing.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from flowtime.adapters.catalog.schema import DOWNGRADES, statements

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(revision):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADES[revision]:
        op.execute(statement)
