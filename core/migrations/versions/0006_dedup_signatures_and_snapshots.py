"""dedup signatures and snapshots

The duplicate index is built from compact binary signatures in the database, written in commit order,
and published as shard snapshots. The old ``dedup_entries`` (which pointed at JSON stage results)
go: the duplicates stage version changes, so ``evidence reprocess --stale`` publishes every screened
submission's signature again (its fingerprint stages are reused, not recomputed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 14:58:02.484209

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dedup_snapshots")),
    )
    with op.batch_alter_table("dedup_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_dedup_snapshots_shard", ["shards", "shard", "seq"], unique=False)

    op.create_table(
        "dedup_signatures",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("submission_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("shard_key", sa.Integer(), nullable=False),
        sa.Column("visual_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("audio_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("allowlisted", sa.Boolean(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("thumbs_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_dedup_signatures_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dedup_signatures")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_dedup_signatures_submission_id")),
    )
    with op.batch_alter_table("dedup_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dedup_signatures_shard_key"), ["shard_key"], unique=False)

    op.drop_table("dedup_entries")


def downgrade() -> None:
    op.create_table(
        "dedup_entries",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=64), nullable=False),
        sa.Column("visual_version", sa.String(length=32), nullable=False),
        sa.Column("audio_version", sa.String(length=32), nullable=False),
        sa.Column("allowlisted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_dedup_entries_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dedup_entries")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_dedup_entries_submission_id")),
    )
    with op.batch_alter_table("dedup_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedup_signatures_shard_key"))

    op.drop_table("dedup_signatures")
    with op.batch_alter_table("dedup_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_dedup_snapshots_shard")

    op.drop_table("dedup_snapshots")
