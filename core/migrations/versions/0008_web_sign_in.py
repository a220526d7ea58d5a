"""web sign-in: passwords, browser sessions, failed attempts

People sign in to the pages with a name and password (argon2 hash); a sign-in opens a session named by
the SHA-256 of its cookie; failed attempts are kept for throttling per account and per address.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        sa.Column("user_id", String(length=64), nullable=False),
        sa.Column("login", String(length=64), nullable=False),
        sa.Column("password_hash", String(length=255), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_passwords_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_passwords")),
        sa.UniqueConstraint("login", name=op.f("uq_user_passwords_login")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", String(length=64), nullable=False),
        sa.Column("user_id", String(length=64), nullable=False),
        sa.Column("csrf_token", String(length=64), nullable=False),
        sa.Column("address", String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "sign_in_failures",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_key_at", "sign_in_failures", ["key", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_failures_key_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("user_passwords")
