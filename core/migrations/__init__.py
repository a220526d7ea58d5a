"""Alembic migrations for the tables in ``models`` (a package so ``env.py`` ships with it)."""
