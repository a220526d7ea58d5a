"""every submission has its metadata row

Submissions made outside the API (CLI, batch) used to get their ``submission_meta`` row only when
their screening finished; now every submission is created with one. Backfill the missing rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:30:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    empty_list = "'[]'::jsonb" if op.get_bind().dialect.name == "postgresql" else "'[]'"
    op.execute(
        "INSERT INTO submission_meta (submission_id, micro_capabilities, duplicate, updated_at) "
        f"SELECT s.id, {empty_list}, false, s.updated_at FROM submissions s "
        "WHERE NOT EXISTS (SELECT 1 FROM submission_meta m WHERE m.submission_id = s.id)"
    )


def downgrade() -> None:
    """Nothing to undo: the rows are valid under the earlier revision too."""
