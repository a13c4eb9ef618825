"""Runs, their parameters and tags, and catalog facts.

Revision ID: 0001
Revises:
"""

from alembic import op

from flowtime.adapters.catalog.schema import DOWNGRADES, statements

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(revision):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADES[revision]:
        op.execute(statement)
