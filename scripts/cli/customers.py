"""`lifecycles customer ...`: everything about one customer org in one place (issue 15).

`customer show ORG` lists every lifecycle of the org (trials, devices, orders, wholesale,
Setup Assist, migrations, billing) with its state and next deadline, from the read models
(models/customers/store.py, one query per lifecycle's table); `customer list` names every
customer org with a lifecycle (company names from the store, not from search attributes).
Both take --json; `--partner` shows what one partner sees (the API's view)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, in_session, run

customer_app = typer.Typer(no_args_is_help=True, help="One customer org's lifecycles.")

PartnerOpt = typer.Option(None, "--partner", help="Only what this partner org sees.")


def register(app: typer.Typer) -> None:
    app.add_typer(customer_app, name="customer")


def _at(value: Any) -> str:
    if not value:
        return "-"
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return f"{at:%Y-%m-%d %H:%M}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def human_show(d: dict[str, Any]) -> str:
    partners = ", ".join(
        f"{p['name'] or p['org_id']} ({p['org_id']}, {p['status']})" for p in d["partners"]
    )
    head = [f"{d['name'] or '-'}  org {d['org_id']} ({d['kind']})"]
    if partners:
        head.append(f"partners: {partners}")
    if not d["lifecycles"]:
        return "\n".join([*head, "no lifecycles"])
    rows = [["LIFECYCLE", "ID", "STATE", "NEXT DEADLINE", "AT", "PARTNER", "NOTE"]]
    for lc in d["lifecycles"]:
        rows.append(
            [
                lc["lifecycle"],
                lc["id"],
                lc["state"],
                lc["next_deadline_kind"] or "-",
                _at(lc["next_deadline_at"]),
                lc["partner_org_id"] or "-",
                lc["note"],
            ]
        )
    return "\n".join([*head, _table(rows)])


def human_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no customers"
    table = [["ORG", "COMPANY", "LIFECYCLES", "NEXT DEADLINE", "AT"]]
    for r in rows:
        kinds = ", ".join(f"{n} {k}" for k, n in r["lifecycles"].items())
        table.append(
            [
                r["org_id"],
                r["name"] or "-",
                kinds,
                r["next_deadline_kind"] or "-",
                _at(r["next_deadline_at"]),
            ]
        )
    return _table(table)


@customer_app.command("show")
def show(
    org_id: str = typer.Argument(..., help="The customer's org id."),
    partner: str | None = PartnerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every lifecycle of one customer org, with its state and next deadline (exit 1 when
    the org is unknown, or is not a customer of --partner)."""
    from models.customers import store

    async def go() -> dict[str, Any]:
        scope = store.Scope(partner) if partner else None
        found = await in_session(store.customer_lifecycles, org_id, scope)
        if found is None:
            raise LookupError(f"no customer org {org_id}" + (f" of {partner}" if partner else ""))
        return found.model_dump(mode="json")

    emit(run(go()), as_json, human_show)


@customer_app.command("list")
def list_customers(partner: str | None = PartnerOpt, as_json: bool = JsonOpt) -> None:
    """Every customer org with a lifecycle: company name, lifecycles, soonest deadline."""
    from models.customers import store

    async def go() -> list[dict[str, Any]]:
        scope = store.Scope(partner) if partner else None
        rows = await in_session(store.customer_list, scope)
        return [r.model_dump(mode="json") for r in rows]

    emit(run(go()), as_json, human_list)
