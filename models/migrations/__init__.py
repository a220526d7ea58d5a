"""Alembic migrations for the tables in ``models.tables`` (a package so ``env.py`` ships with it)."""
