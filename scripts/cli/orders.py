"""`lifecycles order ...`: subscription orders (SO, PX-5) for the order desk's operators.

Every command takes ``--json``; a refusal prints ``refused: RULE (field): message`` and exits
2 with nothing written. The wizard's answers are JSON (``--answers '{...}'`` or
``--answers @file.json``), the same body as the HTTP API's (snake_case or camelCase)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, run, store, temporal
from workers.settings import get_settings

order_app = typer.Typer(no_args_is_help=True, help="Subscription orders (SO, PX-5 rules).")
setup_app = typer.Typer(no_args_is_help=True, help="The set-up wizard of an order (SO-3..SO-13).")
order_app.add_typer(setup_app, name="setup")


def register(app: typer.Typer) -> None:
    from scripts import demo

    app.add_typer(order_app, name="order")
    demo.demo_app.command("orders")(demo_orders)


def demo_orders(
    day_seconds: float = typer.Option(2.0, "--day-seconds", help="Real seconds per day."),
) -> None:
    """Orders that walk every path (beside `lifecycles dev`): provisioned through the wizard,
    closed unprovisioned (SO-2, PX-5), cancelled, contact changed then resent, a trial
    converted; prints each workflow's Temporal UI page."""
    from scripts.orders_demo import live

    run(live(day_seconds))


def _wid(order_id: str) -> str:
    from models.orders.contract import order_workflow_id

    return order_workflow_id(order_id)


def _answers(raw: str) -> Any:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        typer.echo(f"refused: SO-3 (answers): not JSON: {err}", err=True)
        raise typer.Exit(2) from None


def _human(d: dict[str, Any]) -> str:
    lines = [f"order {d['order_id']}: {d['state']} ({d['offer']})"]
    for k in (
        "start_at",
        "email_sent_at",
        "rep_alerted_at",
        "close_at",
        "partner_org_id",
        "customer_org_id",
        "deferred_services",
        "trial_id",
        "error",
        "waiting_for",
    ):
        if d.get(k) not in (None, [], ""):
            lines.append(f"  {k}: {d[k]}")
    for n in d.get("notices", []):
        lines.append(f"  notice {n['kind']} -> {n['recipient']} sent {n['sent_at']}")
    return "\n".join(lines)


@order_app.command("create")
def create(
    order_id: str = typer.Option(..., "--order-id"),
    offer: str = typer.Option(..., "--offer", help="A-WX, A-SPK, A-FLEX or A-Flex-3"),
    start_date: str = typer.Option(..., "--start-date", help="Requested start date YYYY-MM-DD"),
    contact: str = typer.Option(..., "--contact", help="Provisioning contact email (SO-1)."),
    line: list[str] = typer.Option(..., "--line", help="SERVICE=QUANTITY, e.g. meetings=100"),
    partner: str = typer.Option(..., "--partner", help="The partner org placing the order."),
    rep: str | None = typer.Option(None, "--rep", help="Account representative (SO-2)."),
    customer_name: str | None = typer.Option(None, "--customer-name"),
    trial: str | None = typer.Option(None, "--trial", help="The trial it converts (TR-V1)."),
    confirm_new_org: bool = typer.Option(False, "--confirm-new-org", help="TR-V3"),
    through_distributor: bool = typer.Option(False, "--through-distributor", help="TR-V2"),
    as_json: bool = JsonOpt,
) -> None:
    """Accept an order (idempotent per order id)."""
    from models.orders.contract import OrderCreate

    lines = []
    for spec in line:
        service, _, qty = spec.partition("=")
        if not qty.isdigit():
            typer.echo(f"refused: SO-1 (lines): {spec!r}: want SERVICE=QUANTITY", err=True)
            raise typer.Exit(2)
        lines.append({"service": service, "quantity": int(qty)})
    try:
        day = date.fromisoformat(start_date)
    except ValueError:
        typer.echo("refused: SO-1 (requested_start_date): want YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    from pydantic import ValidationError

    try:
        req = OrderCreate(
            order_id=order_id,
            offer=offer,
            requested_start_date=day,
            provisioning_contact_email=contact,
            lines=lines,
            account_rep_email=rep,
            customer_name=customer_name,
            trial_id=trial,
            confirm_new_org=confirm_new_org,
            through_distributor=through_distributor,
        )
    except ValidationError as err:
        for e in err.errors():
            field = ".".join(map(str, e["loc"])) or "input"
            typer.echo(f"refused: SO-1 ({field}): {e['msg']}", err=True)
        raise typer.Exit(2) from None

    async def go() -> dict[str, Any]:
        from api.orders.service import accept_order

        settings = get_settings()
        async with store() as db:
            row, created = await accept_order(
                await temporal(),
                db,
                settings.order_policy(),
                partner,
                req,
                task_queue=settings.task_queue,
            )
        return {"order_id": row.id, "workflow_id": row.workflow_id, "created": created}

    emit(
        run(go()),
        as_json,
        lambda d: f"order {d['order_id']} {'accepted' if d['created'] else 'already accepted'}",
    )


@order_app.command("status")
def status(order_id: str, as_json: bool = JsonOpt) -> None:
    """The live status (query `status`)."""
    from models.orders.contract import OrderStatus

    async def go() -> OrderStatus:
        h = (await temporal()).get_workflow_handle(_wid(order_id))
        return await h.query("status", result_type=OrderStatus)

    emit(run(go()), as_json, _human)


@order_app.command("list")
def list_(
    partner: str | None = typer.Option(None, "--partner"),
    state: list[str] = typer.Option([], "--state"),
    offer: str | None = typer.Option(None, "--offer"),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--max", min=1, max=1000),
    as_json: bool = JsonOpt,
) -> None:
    """Orders from the read model (exact filters)."""

    async def go() -> list[dict[str, Any]]:
        from models.orders.store import list_orders

        async with store() as db, db.session() as s:
            rows = await list_orders(
                s,
                submitted_by_org_id=partner,
                state=state or None,
                offer=offer,
                offset=offset,
                limit=limit,
            )
        keep = ("id", "offer", "state", "requested_start_date", "close_at", "customer_org_id")
        return [{k: v for k, v in r.model_dump(mode="json").items() if k in keep} for r in rows]

    emit(
        run(go()),
        as_json,
        lambda rows: (
            "\n".join(f"{r['id']}  {r['offer']:8} {r['state']}" for r in rows) or "no orders"
        ),
    )


def _update(order_id: str, name: str, payload: Any, as_json: bool) -> None:
    from models.orders.contract import UpdateResult

    async def go() -> UpdateResult:
        h = (await temporal()).get_workflow_handle(_wid(order_id))
        return await h.execute_update(name, payload, result_type=UpdateResult)

    emit(run(go()), as_json, lambda d: f"{d['state']}: {d['message']}")


@order_app.command("resend")
def resend(order_id: str, as_json: bool = JsonOpt) -> None:
    """Send the provisioning email again (PX-5: until mapped)."""
    _update(order_id, "resend", {}, as_json)


@order_app.command("change-contact")
def change_contact(order_id: str, email: str, as_json: bool = JsonOpt) -> None:
    """A new provisioning contact (PX-5: until mapped)."""
    _update(order_id, "change_contact", {"email": email}, as_json)


@order_app.command("change-start-date")
def change_start_date(order_id: str, day: str, as_json: bool = JsonOpt) -> None:
    """A new requested start date YYYY-MM-DD (PX-5: until mapped)."""
    _update(order_id, "change_start_date", {"requested_start_date": day}, as_json)


@order_app.command("cancel")
def cancel(
    order_id: str, reason: str = typer.Option("", "--reason"), as_json: bool = JsonOpt
) -> None:
    """Cancel an order not yet provisioned."""
    _update(order_id, "cancel", {"reason": reason}, as_json)


@setup_app.command("begin")
def setup_begin(order_id: str, as_json: bool = JsonOpt) -> None:
    """Open the wizard: set-up has started (SO-2 is then not due)."""
    _update(order_id, "begin_setup", {}, as_json)


@setup_app.command("step")
def setup_step(
    order_id: str,
    step: str = typer.Argument(..., help="who|purpose|partner-org|customer-org|services|review"),
    answers: str = typer.Option("{}", "--answers", help="JSON, or @file.json"),
    as_json: bool = JsonOpt,
) -> None:
    """Check one step of the answers; saves nothing (SO-3)."""
    _update(order_id, "check_setup", {"step": step, "answers": _answers(answers)}, as_json)


@setup_app.command("commit")
def setup_commit(
    order_id: str,
    answers: str = typer.Option(..., "--answers", help="JSON, or @file.json"),
    as_json: bool = JsonOpt,
) -> None:
    """Commit all answers at once (SO-4..SO-13)."""
    _update(order_id, "commit_setup", _answers(answers), as_json)


@setup_app.command("resume")
def setup_resume(
    order_id: str,
    services: str = typer.Option(..., "--services", help="JSON, or @file.json"),
    as_json: bool = JsonOpt,
) -> None:
    """Set up the services left for later (SO-9, SO-13) and bill them."""
    _update(order_id, "setup_services", {"services": _answers(services)}, as_json)


@order_app.command("token")
def token(
    partner: str = typer.Option(..., "--partner"),
    admin_email: str = typer.Option(..., "--admin-email"),
    scope: list[str] = typer.Option(["orders_read", "orders_write"], "--scope"),
    as_json: bool = JsonOpt,
) -> None:
    """A bearer token for /v1/orders (shown once)."""

    async def go() -> dict[str, str]:
        from models.orders.store import create_order_token

        async with store() as db, db.session() as s:
            token_id, tok = await create_order_token(
                s, partner_org_id=partner, admin_email=admin_email, scopes=scope
            )
        return {"token_id": token_id, "token": tok}

    emit(run(go()), as_json, lambda d: f"token {d['token_id']}: {d['token']}")
