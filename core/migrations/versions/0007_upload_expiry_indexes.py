"""upload expiry and quota indexes

Open uploads are found by their expiry (the cleanup run) and counted per teacher (quotas).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 10:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index("ix_uploads_due", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_uploads_teacher_id"), ["teacher_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_teacher_id"))
        batch_op.drop_index("ix_uploads_due")
