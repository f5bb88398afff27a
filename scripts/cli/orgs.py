"""`lifecycles partner ...` and `lifecycles org ...`: set up the orgs trials run against."""

from __future__ import annotations

import typer

from scripts.cli.common import JsonOpt, emit, in_session, run

partner_app = typer.Typer(no_args_is_help=True, help="Partner orgs.")
org_app = typer.Typer(no_args_is_help=True, help="Customer orgs.")


@partner_app.command("create")
def partner_create(
    name: str = typer.Option(..., "--name"),
    tier: int = typer.Option(1, "--tier", help="1 converts directly, 2 through a distributor."),
    admin: list[str] = typer.Option([], "--admin", help="EMAIL:ROLE (full, sales_full, sales...)"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a partner org with its admins."""
    from models.common.orgs import PARTNER_ROLES, create_partner, parse_admins

    async def go() -> str:
        admins = parse_admins(admin, PARTNER_ROLES, "admin")
        return await in_session(create_partner, name, tier, admins)

    org_id = run(go())
    emit({"org_id": org_id}, as_json, lambda d: d["org_id"])


@org_app.command("create")
def org_create(
    name: str = typer.Option(..., "--name"),
    admin: list[str] = typer.Option([], "--admin", help="EMAIL:ROLE (full, read_only, ...)"),
    user: list[str] = typer.Option([], "--user", help="EMAIL of a user (repeat)."),
    country: str = typer.Option("US", "--country"),
    paid: list[str] = typer.Option([], "--paid", help="SERVICE:QTY already bought (TR-S6)."),
    number: list[str] = typer.Option([], "--number", help="E.164 phone number (repeat)."),
    managed_by: str | None = typer.Option(
        None, "--managed-by", help="Partner org with a sales relationship (no consent needed)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Create an existing customer org (for trials on an existing org, TR-C*, TR-S7)."""
    from models.common.orgs import CUSTOMER_ROLES, create_customer_org, parse_admins

    async def go() -> str:
        admins = parse_admins(admin, CUSTOMER_ROLES, "admin")
        bought = {k: int(v or 1) for k, _, v in (p.partition(":") for p in paid)}
        return await in_session(
            create_customer_org,
            name,
            admins,
            user,
            country=country,
            paid=bought,
            numbers=number,
            managed_by=managed_by,
        )

    org_id = run(go())
    emit({"org_id": org_id}, as_json, lambda d: d["org_id"])
