"""Imports every table module, so Alembic's metadata (and tests) see every table."""

from models import tables  # noqa: F401
