"""Widening varchar columns in an Alembic migration, and narrowing them back on downgrade
(migrations 0011 and 0012: ids of Webex's length). Widening a varchar rewrites no table and
no index; narrowing fails, as it should, when a longer value is stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from alembic import op

# (table, column, length before, length after)
Resize = tuple[str, str, int, int]


def widened(columns: Mapping[str, Sequence[tuple[str, int]]], to: int) -> list[Resize]:
    """``{table: [(column, length before), ...]}`` all widened to ``to``."""
    return [
        (table, column, before, to) for table, cols in columns.items() for column, before in cols
    ]


def widen(resizes: Sequence[Resize]) -> None:
    for table, column, before, after in resizes:
        _alter(table, column, before, after)


def narrow(resizes: Sequence[Resize]) -> None:
    """What ``widen`` did, undone in reverse order."""
    for table, column, before, after in reversed(resizes):
        _alter(table, column, after, before)


def _alter(table: str, column: str, length: int, to: int) -> None:
    op.alter_column(
        table, column, type_=sa.String(length=to), existing_type=sa.String(length=length)
    )
