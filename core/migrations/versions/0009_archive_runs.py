"""archive runs

An archive run (`evidence batch --manifest`, `evidence reprocess`) and its input rows: the same command
run again finds its unfinished run and resumes it; progress and outcomes are counted from these rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:07:03.419253

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_runs",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("spec_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("cursor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("input_done", sa.Boolean(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_runs")),
    )
    with op.batch_alter_table("archive_runs", schema=None) as batch_op:
        batch_op.create_index("ix_archive_runs_spec", ["spec_digest", "finished_at"], unique=False)

    op.create_table(
        "archive_run_items",
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("row_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("submission_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("problem", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["archive_runs.id"], name=op.f("fk_archive_run_items_run_id_archive_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "row", name=op.f("pk_archive_run_items")),
    )
    with op.batch_alter_table("archive_run_items", schema=None) as batch_op:
        batch_op.create_index("ix_archive_run_items_row_key", ["run_id", "row_key"], unique=False)
        batch_op.create_index("ix_archive_run_items_submission", ["run_id", "submission_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("archive_run_items", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_run_items_submission")
        batch_op.drop_index("ix_archive_run_items_row_key")

    op.drop_table("archive_run_items")
    with op.batch_alter_table("archive_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_runs_spec")

    op.drop_table("archive_runs")
