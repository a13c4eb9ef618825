"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from alembic import op

from flowtime.adapters.catalog.schema import DOWNGRADES, statements

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    for statement in statements(revision):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADES[revision]:
        op.execute(statement)
