"""Alembic migrations of the jotgate server schema, shipped inside the package."""
