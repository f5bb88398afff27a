"""`lifecycles demo ...`: walk every path of a lifecycle against a running stack."""

from __future__ import annotations

import typer

demo_app = typer.Typer(no_args_is_help=True, help="Demos against `lifecycles dev`.")


@demo_app.command("trials")
def trials() -> None:
    """Start trials that together walk every path of the trial lifecycle."""
    typer.echo("not yet")
