"""`lifecycles devices ...`: the warehouse, the carriers and the trials team talk to the
``DeviceTrial`` workflow of a trial (``devices-<trial_id>``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from models.devices.contract import (
    ApproveExtension,
    DeviceStatus,
    DeviceUpdateResult,
    ExtensionRequest,
    LabelRequest,
    RejectExtension,
    ReturnRequest,
    ShipmentRequest,
)
from scripts.cli.common import JsonOpt, emit, run, temporal

if TYPE_CHECKING:
    from temporalio.workflow import UpdateMethodMultiParam

    from workflows.devices.workflow import DeviceTrial

devices_app = typer.Typer(
    no_args_is_help=True, help="Trial devices: shipments, returns, extensions (TR-S4, DV)."
)


async def _handle(trial_id: str):
    from models.devices.contract import device_workflow_id

    return (await temporal()).get_workflow_handle(device_workflow_id(trial_id))


def _workflow() -> type[DeviceTrial]:
    """The workflow class, whose methods name its updates and queries (imported when a
    command talks to Temporal, not for `--help`)."""
    from workflows.devices.workflow import DeviceTrial

    return DeviceTrial


def _human_status(d: dict[str, Any]) -> str:
    lines = [f"devices of trial {d['trial_id']}: {d['state']}"]
    for k in (
        "first_shipped_at",
        "expires_at",
        "return_due_at",
        "converted_at",
        "cancelled_at",
        "overdue_at",
        "returned_at",
        "closed_reason",
        "waiting_for",
    ):
        if d.get(k) not in (None, [], ""):
            lines.append(f"  {k}: {d[k]}")
    for sh in d.get("shipments", []):
        labels = f" labels={','.join(sh['labels'])}" if sh["labels"] else ""
        lines.append(
            f"  shipment {sh['device_type']}: {sh['quantity']} x {sh['model']} to "
            f"{sh['country']} on {sh['shipped_at']}, returns by {sh['carrier']}{labels}"
        )
    for dv in d.get("devices", []):
        back = f" {dv['returned_at']} via {dv['return_carrier']}" if dv["returned_at"] else ""
        lines.append(f"  serial {dv['serial']:<16} {dv['device_type']:<8} {dv['state']}{back}")
    for e in d.get("extensions", []):
        lines.append(
            f"  extension #{e['seq']}: {e['days']} days, {e['state']}"
            + (f" by {e['decided_by']}" if e["decided_by"] else "")
        )
    return "\n".join(lines)


def _model(cls, **fields):
    """Build a request; a malformed field is reported like a refusal (exit 2)."""
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as err:
        for e in err.errors():
            typer.echo(f"invalid: {'.'.join(map(str, e['loc']))}: {e['msg']}", err=True)
        raise typer.Exit(2) from None


def _update(
    trial_id: str,
    update: UpdateMethodMultiParam[[DeviceTrial, Any], DeviceUpdateResult],
    payload: BaseModel,
    as_json: bool,
) -> None:
    async def go() -> DeviceUpdateResult:
        h = await _handle(trial_id)
        return await h.execute_update(update, payload)

    emit(run(go()), as_json, lambda d: f"{d['state']}: {d['message']}")


@devices_app.command("ship")
def ship(
    trial_id: str,
    device_type: str = typer.Option(..., "--type", help="phone|headset|desk|room|board|camera"),
    model: str = typer.Option(..., "--model"),
    serial: list[str] = typer.Option(..., "--serial", help="Repeat for each serial number."),
    country: str = typer.Option(..., "--country", help="Destination country (DV-3 carrier)."),
    quantity: int | None = typer.Option(None, "--quantity", help="Default: number of serials."),
    ship_date: datetime | None = typer.Option(None, "--ship-date", help="Default: now (UTC)."),
    as_json: bool = JsonOpt,
) -> None:
    """Record the one shipment of a device type (TR-S4); the first starts the device clock."""
    req = _model(
        ShipmentRequest,
        device_type=device_type,
        model=model,
        quantity=quantity if quantity is not None else len(serial),
        serials=serial,
        country=country,
        ship_date=ship_date,
    )
    _update(trial_id, _workflow().record_shipment, req, as_json)


@devices_app.command("status")
def status(trial_id: str, as_json: bool = JsonOpt) -> None:
    """Every serial with its state, the shipments, the dates and the extension requests."""

    async def go() -> DeviceStatus:
        h = await _handle(trial_id)
        return await h.query(_workflow().status)

    emit(run(go()), as_json, _human_status)


@devices_app.command("return")
def record_return(
    trial_id: str,
    serial: list[str] = typer.Option(..., "--serial", help="Repeat for each serial received."),
    carrier: str = typer.Option(..., "--carrier"),
    tracking: str = typer.Option(..., "--tracking"),
    as_json: bool = JsonOpt,
) -> None:
    """Record serials received back; unknown serials are refused (DV-2)."""
    _update(
        trial_id,
        _workflow().record_return,
        _model(ReturnRequest, serials=serial, carrier=carrier, tracking=tracking),
        as_json,
    )


@devices_app.command("extend")
def extend(
    trial_id: str,
    days: int = typer.Option(..., "--days"),
    reason: str = typer.Option(..., "--reason"),
    as_json: bool = JsonOpt,
) -> None:
    """Ask the trials team for DAYS more (TR-D2); the answer is `pending`."""
    _update(
        trial_id,
        _workflow().request_extension,
        _model(ExtensionRequest, days=days, reason=reason),
        as_json,
    )


@devices_app.command("approve-extension")
def approve_extension(
    trial_id: str, by: str = typer.Option(..., "--by"), as_json: bool = JsonOpt
) -> None:
    """The trials team approves the pending request (refused past 120 days, TR-D2)."""
    _update(
        trial_id, _workflow().approve_extension, _model(ApproveExtension, approved_by=by), as_json
    )


@devices_app.command("reject-extension")
def reject_extension(
    trial_id: str,
    by: str = typer.Option(..., "--by"),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = JsonOpt,
) -> None:
    """The trials team rejects the pending request."""
    _update(
        trial_id,
        _workflow().reject_extension,
        _model(RejectExtension, rejected_by=by, reason=reason),
        as_json,
    )


@devices_app.command("request-label")
def request_label(
    trial_id: str,
    device_type: str | None = typer.Option(None, "--type", help="Default: every shipment out."),
    as_json: bool = JsonOpt,
) -> None:
    """A new return label for lost ones: US only; elsewhere, contact the carrier (DV-4)."""
    _update(
        trial_id, _workflow().request_label, _model(LabelRequest, device_type=device_type), as_json
    )


async def overdue_list(client, partner: str | None = None) -> list[dict[str, Any]]:
    """Device lifecycles in state ``overdue``, from visibility (the shared search
    attributes): ids only, no personal data."""
    from workflows import search_attributes as sa

    query = "WorkflowType = 'DeviceTrial' AND LifecycleState = 'overdue'"
    if partner:
        query += f" AND PartnerOrgId = '{partner.replace(chr(39), '')}'"
    out: list[dict[str, Any]] = []
    async for w in client.list_workflows(query):
        attrs = w.typed_search_attributes
        out.append(
            {
                "trial_id": w.id.removeprefix("devices-"),
                "workflow_id": w.id,
                "partner_org_id": attrs.get(sa.PARTNER_ORG_ID),
                "customer_org_id": attrs.get(sa.CUSTOMER_ORG_ID),
                "status": w.status.name if w.status else None,
                "started_at": w.start_time,
            }
        )
    return sorted(out, key=lambda r: r["started_at"])


@devices_app.command("overdue")
def overdue(
    partner: str | None = typer.Option(None, "--partner", help="Only this partner's trials."),
    missing: bool = typer.Option(False, "--missing", help="Also query each for its serials."),
    as_json: bool = JsonOpt,
) -> None:
    """Trials with overdue devices, across all trials (a visibility query)."""

    async def go() -> list[dict[str, Any]]:
        client = await temporal()
        rows = await overdue_list(client, partner)
        if missing:
            for r in rows:
                st = await client.get_workflow_handle(r["workflow_id"]).query(_workflow().status)
                r["missing"] = st.outstanding
                r["return_due_at"] = st.return_due_at
        return rows

    def human(rows: list[dict[str, Any]]) -> str:
        return (
            "\n".join(
                f"{r['trial_id']}  partner={r['partner_org_id']} customer={r['customer_org_id']}"
                + (f" missing={','.join(r['missing'])}" if "missing" in r else "")
                for r in rows
            )
            or "no overdue devices"
        )

    emit(run(go()), as_json, human)
