"""`lifecycles customer ...`: everything about one customer org in one place (issue 15).

`customer show ORG` lists every lifecycle of the org (trials, devices, orders, wholesale,
Setup Assist, migrations, billing) with its state and next deadline, from the read models
(models/customers/store.py, one query per lifecycle's table); `customer list` names every
customer org with a lifecycle (company names from the store, not from search attributes).
Both take --json; `--partner` shows what one partner sees (the API's view)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, in_session, run

customer_app = typer.Typer(no_args_is_help=True, help="One customer org's lifecycles.")

PartnerOpt = typer.Option(None, "--partner", help="Only what this partner org sees.")


def register(app: typer.Typer) -> None:
    app.add_typer(customer_app, name="customer")
    app.command("ui-views")(ui_views)


# --- the Temporal UI: columns and saved views (docs/operators.md) ------------------------

# The shared search attributes as list columns, after the UI's own Status, id and type.
UI_COLUMNS = [
    "Status",
    "Workflow ID",
    "Type",
    "LifecycleState",
    "CustomerOrgId",
    "PartnerOrgId",
    "NextDeadlineKind",
    "NextDeadlineAt",
    "Start",
]
# Saved views: (name, visibility query). Lists shown to people come from PostgreSQL (customer
# show, trial list): these are for looking into the workflows themselves.
UI_VIEWS = [
    ("Lifecycles in error", 'LifecycleState = "error"'),
    ("Waiting on a deadline", 'ExecutionStatus = "Running" AND NextDeadlineAt IS NOT NULL'),
    (
        "Trials awaiting consent",
        'WorkflowType = "TrialLifecycle" AND LifecycleState = "pending_consent"',
    ),
    ("Trials in grace", 'WorkflowType = "TrialLifecycle" AND LifecycleState = "grace"'),
    ("Devices overdue", 'WorkflowType = "DeviceTrial" AND LifecycleState = "overdue"'),
    (
        "Wholesale on compliance hold",
        'WorkflowType = "WholesaleCustomerProvisioning" AND '
        'LifecycleState IN ("pending_rpl_review", "compliance_escalated")',
    ),
    (
        "Wholesale waiting for approval (PX-4)",
        'WorkflowType = "WholesaleCustomerProvisioning" AND '
        'LifecycleState = "pending_org_approval"',
    ),
]


def customer_query(org_id: str) -> str:
    """Everything of one customer in visibility: every lifecycle that names its org."""
    return f'CustomerOrgId = "{org_id}"'


def ui_link(query: str, saved_as: str | None = None) -> str:
    """The stack's Temporal UI workflow list filtered by ``query``; with ``saved_as``, opening
    it once saves it as a view of that name in this browser (UI 2.54: ``savedQuery``)."""
    from workers.settings import get_settings

    params = {"query": query} | ({"savedQuery": saved_as} if saved_as else {})
    return get_settings().ui_url(**params)


def columns_snippet(namespace: str) -> str:
    """JavaScript for the UI page's browser console: the list's columns (the UI keeps them
    per browser, in localStorage), then a reload."""
    cols = json.dumps([{"label": c, "pinned": c in ("Status", "Workflow ID")} for c in UI_COLUMNS])
    key = "namespace-workflow-table-columns"
    return (
        f"(() => {{ const k = '{key}'; const all = JSON.parse(localStorage.getItem(k) || '{{}}'); "
        f"all[{json.dumps(namespace)}] = {cols}; localStorage.setItem(k, JSON.stringify(all)); "
        "location.reload(); })()"
    )


def ui_views(
    customer: list[str] = typer.Option(
        [], "--customer", help="Also a view of everything of this customer org (repeatable)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The Temporal UI's columns and saved views an operator wants: open each link once (it
    saves the view in this browser), paste the snippet in the UI page's console once."""
    from workers.settings import get_settings

    views = [*UI_VIEWS, *((f"Customer {org}", customer_query(org)) for org in customer)]
    data = {
        "columns": UI_COLUMNS,
        "columns_snippet": columns_snippet(get_settings().temporal_namespace),
        "views": [{"name": n, "query": q, "link": ui_link(q, n)} for n, q in views],
    }

    def human(d: dict[str, Any]) -> str:
        lines = ["Saved views: open each link once in the browser you use for the UI."]
        lines += [f"  {v['name']}\n    {v['link']}" for v in d["views"]]
        lines += [
            "Columns " + ", ".join(d["columns"]) + ": paste in that page's browser console once:",
            "  " + d["columns_snippet"],
        ]
        return "\n".join(lines)

    emit(data, as_json, human)


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
    ui = f"Temporal UI: {ui_link(customer_query(d['org_id']))}"
    if not d["lifecycles"]:
        return "\n".join([*head, "no lifecycles", ui])
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
    return "\n".join([*head, _table(rows), ui])


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
