"""Alembic environment: the URL comes from the caller (``models.common.db.upgrade``)."""

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import models.all_tables  # noqa: F401  (registers every table on the metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: sqlalchemy.url is not set (see models.common.db.upgrade)")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
