"""Imports every table module, so Alembic's metadata (and tests) see every table."""

from models import (
    devices,  # noqa: F401
    tables,  # noqa: F401
    wholesale,  # noqa: F401
)
