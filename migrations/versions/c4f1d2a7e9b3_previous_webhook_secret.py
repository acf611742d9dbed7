"""previous webhook secret: both signatures during a secret rotation

Revision ID: c4f1d2a7e9b3
Revises: 8a5d68835722
Create Date: 2026-11-27 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c4f1d2a7e9b3'
down_revision = '8a5d68835722'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_webhook_secret', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('previous_webhook_secret_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_column('previous_webhook_secret_until')
        batch_op.drop_column('previous_webhook_secret')
