"""Database engines. Async (psycopg 3) for activities and the API; sync for Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` to the psycopg 3 dialect (sync and async share it)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"database URL must be postgresql://...: {url.split('@')[-1]}")


class Database:
    """An async engine and its sessions; one per process."""

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        *,
        pre_ping: bool = True,
        max_overflow: int | None = None,
    ) -> None:
        """``pre_ping``: test each connection as it leaves the pool (a round trip per
        checkout). A worker does without: an activity that finds its connection dead fails
        that attempt, the pool drops its connections, and the retry gets a fresh one.
        ``max_overflow`` (default ``pool_size``): connections opened beyond the pool when it
        is busy, each closed again when it comes back (a new PostgreSQL backend every time)."""
        self.url = sqlalchemy_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size if max_overflow is None else max_overflow,
            pool_pre_ping=pre_ping,
        )
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error."""
        async with self._sessions() as s, s.begin():
            yield s

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Any]:
        """The pool's psycopg connection in autocommit, for a hot path's single statements:
        one round trip each (no BEGIN/COMMIT, no ORM). Yields a ``psycopg.AsyncConnection``;
        it goes back to the pool as it came."""
        async with self.engine.connect() as conn:
            pg = (await conn.get_raw_connection()).driver_connection
            assert pg is not None  # a checked-out connection has its driver's
            await pg.set_autocommit(True)
            try:
                yield pg
            finally:
                if pg.closed:  # found dead (the server went away): never pooled again
                    await conn.invalidate()
                else:
                    await pg.set_autocommit(False)

    async def dispose(self) -> None:
        await self.engine.dispose()


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply Alembic migrations (the only way tables are created outside tests)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(cfg, revision)
