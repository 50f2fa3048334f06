"""Alembic migrations: the only way the StratForge schema is created or changed."""
