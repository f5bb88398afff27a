"""`lifecycles`: the console script for operators and scripts.

Every command that reports takes ``--json``. A refusal prints the rule that refused and
exits non-zero (2); nothing is written then. One module per lifecycle beside this one
registers its commands below.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

import typer

from scripts.cli import devices, orgs, trials, wholesale
from scripts.cli.common import database_url
from scripts.exits import run_then_exit
from workers.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Webex partner lifecycles on Temporal.")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")


@app.command()
def dev() -> None:
    """Start the whole system in the foreground on embedded defaults (what `make dev` runs)."""
    from scripts.dev import main as dev_main

    dev_main()


@app.command()
def worker() -> None:
    """Run one production worker (settings from LIFECYCLES_* variables; SIGTERM is graceful)."""
    from workers.logging import configure_logging
    from workers.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))
    # Stopped cleanly (activities finished, pool closed, "worker stopped" logged); main()
    # leaves without interpreter finalization (scripts/exits.py, sdk-python#300).


@app.command()
def api() -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    from api.app import serve

    settings = get_settings()
    serve(settings, database_url(settings))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Apply the Alembic migrations."""
    from models.common.db import upgrade

    upgrade(database_url(get_settings()), revision)
    typer.echo(f"database at {revision}")


def _register_subcommands() -> None:
    from scripts import demo

    app.add_typer(orgs.partner_app, name="partner")
    app.add_typer(orgs.org_app, name="org")
    app.add_typer(trials.trial_app, name="trial")
    app.add_typer(trials.notices_app, name="notices")
    app.add_typer(devices.devices_app, name="devices")
    app.add_typer(demo.demo_app, name="demo")
    wholesale.register(app)
    from scripts.cli import migration as migration_cli

    migration_cli.register(app)
    from scripts.cli import billing as billing_cli

    billing_cli.register(app)
    from scripts.cli import setup_assist

    setup_assist.register(app)
    from scripts.cli import orders as orders_cli

    orders_cli.register(app)
    from scripts.cli import customers, timeline

    customers.register(app)
    timeline.register(app)


_register_subcommands()


def main() -> NoReturn:
    """The console script: every command, including `dev`, `api`, `worker` and `demo`,
    leaves with its exit code and without CPython's finalization, which can abort a process
    that used the Temporal client after its work was done (scripts/exits.py)."""
    run_then_exit(lambda: app(prog_name="lifecycles"))


if __name__ == "__main__":  # pragma: no cover
    main()
