"""job lanes

Queued jobs are claimed by lane, then age: uploads and administrators' requests (lane 0) before the
jobs of archive runs and re-checks (lane 1), so a province-wide re-screening never delays a teacher.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_index("ix_jobs_queued")
        batch_op.create_index("ix_jobs_queued", ["status", "lane", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_queued")
        batch_op.create_index("ix_jobs_queued", ["status", "created_at"], unique=False)
        batch_op.drop_column("lane")
