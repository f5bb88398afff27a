"""`lifecycles billing ...`: record usage days (WH-B1 backfill) and the operator's view of
billing reports (WH-B2..B5, PX-6). The operator sees every partner's reports."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, run, store, temporal

billing_app = typer.Typer(no_args_is_help=True, help="Usage and billing reports (WH-B, PX-7).")
report_app = typer.Typer(no_args_is_help=True, help="Billing reports (WH-B2..B8, PX-6).")
billing_app.add_typer(report_app, name="report")


def register(app: typer.Typer) -> None:
    app.add_typer(billing_app, name="billing")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


def _view(r: Any, settings: Any, with_url: bool = True) -> dict[str, Any]:
    from models.billing import rules as R
    from workers.billing import signing_key

    out: dict[str, Any] = {
        "id": r.id,
        "partnerOrgId": r.partner_org_id,
        "subPartnerOrgId": r.sub_partner_org_id,
        "type": r.type,
        "category": r.category,
        "billingStartDate": r.billing_start_date.isoformat(),
        "billingEndDate": r.billing_end_date.isoformat(),
        "status": r.status,
        "created": r.created_at.isoformat(),
        "createdBy": r.created_by,
        "rows": r.rows,
        "errors": r.errors,
    }
    if with_url and r.status == "COMPLETED":
        policy = settings.billing_policy()
        expires = R.expires_at(datetime.now(UTC), policy.download_minutes)
        sig = R.sign(signing_key(settings), r.id, r.file_token, expires)
        out["tempDownloadURL"] = (
            f"http://{settings.api_bind}/v1/wholesale/billing/reports/{r.id}/download"
            f"?Expires={expires}&Signature={sig}"
        )
    return out


@billing_app.command("close")
def close(
    first: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    last: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD), before today."),
    as_json: bool = JsonOpt,
) -> None:
    """Record (again) the usage of every day of a range: idempotent, the backfill of the
    daily close (WH-B1). Days are bounded by LIFECYCLES_BILLING_TIMEZONE."""
    from models.billing import rules as R
    from models.billing.store import close_range
    from workers.settings import get_settings

    tz = get_settings().billing_timezone

    async def go() -> Any:
        async with store() as db:
            today = R.local_date(datetime.now(UTC), tz)
            return await close_range(db, _day(first), _day(last), tz, today)

    res = run(go())
    emit(res, as_json, lambda d: f"{d['days']} day(s) recorded, {d['lines']} line(s) ({tz})")


@report_app.command("create")
def report_create(
    partner: str = typer.Option(..., "--partner", help="Partner org id."),
    first: str = typer.Option(..., "--from", help="billingStartDate (YYYY-MM-DD)."),
    last: str = typer.Option(..., "--to", help="billingEndDate (YYYY-MM-DD)."),
    type_: str = typer.Option("PARTNER", "--type", help="PARTNER, CUSTOMER or USER."),
    sub_partner: str | None = typer.Option(None, "--sub-partner", help="Sub-partner org id."),
    internal: bool = typer.Option(False, "--internal"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a report (the same rules as the API: WH-B2, WH-B4, WH-B8) and start its
    workflow; prints its id."""
    from models.billing import rules as R
    from models.billing import store as S
    from models.wholesale.store import Scope
    from workers.billing import start_report
    from workers.settings import get_settings

    if type_ not in R.COLUMNS:
        raise typer.BadParameter("--type is PARTNER, CUSTOMER or USER")
    settings = get_settings()
    policy = settings.billing_policy()

    async def go() -> Any:
        async with store() as db:
            async with db.session() as s:
                sub = await S.report_sub_partner(s, Scope(partner), sub_partner)
                row, new = await S.create_report(
                    s,
                    S.ReportSpec(
                        partner_org_id=partner,
                        sub_partner_org_id=sub,
                        type=type_,
                        start=_day(first),
                        end=_day(last),
                        internal=internal,
                        created_by="cli",
                    ),
                    R.local_date(datetime.now(UTC), policy.timezone),
                    policy.lookback_years,
                )
            if new:
                await start_report(await temporal(), db, row, policy, settings.task_queue)
            return {"id": row.id, "status": row.status, "new": new}

    emit(run(go()), as_json, lambda d: d["id"])


@report_app.command("get")
def report_get(report_id: str, as_json: bool = JsonOpt) -> None:
    """A report, with a download URL (valid 30 minutes) when it is COMPLETED."""
    from models.billing.store import get_report
    from workers.settings import get_settings

    async def go() -> Any:
        async with store() as db, db.session() as s:
            r = await get_report(s, None, report_id)
        if r is None:
            raise LookupError(f"no billing report {report_id}")
        return _view(r, get_settings())

    emit(run(go()), as_json)


@report_app.command("list")
def report_list(
    partner: str | None = typer.Option(None, "--partner"),
    type_: str | None = typer.Option(None, "--type"),
    status: str | None = typer.Option(None, "--status"),
    first: str | None = typer.Option(None, "--from", help="Exact billingStartDate."),
    last: str | None = typer.Option(None, "--to", help="Exact billingEndDate."),
    max_: int = typer.Option(100, "--max", min=1, max=1000),
    as_json: bool = JsonOpt,
) -> None:
    """Reports, by start date (exact-match filters, WH-B7)."""
    from models.billing.store import list_reports
    from models.wholesale.store import Scope
    from workers.settings import get_settings

    async def go() -> Any:
        async with store() as db, db.session() as s:
            rows = await list_reports(
                s,
                Scope(partner) if partner else None,
                start=_day(first) if first else None,
                end=_day(last) if last else None,
                type=type_,
                status=status,
                max_=max_,
            )
        return [_view(r, get_settings(), with_url=False) for r in rows]

    def human(items: list[dict[str, Any]]) -> str:
        return (
            "\n".join(
                f"{i['id']}  {i['type']:8} {i['billingStartDate']}..{i['billingEndDate']}  "
                f"{i['status']:11} {i['partnerOrgId']}"
                for i in items
            )
            or "no reports"
        )

    emit(run(go()), as_json, human)


@report_app.command("delete")
def report_delete(report_id: str, as_json: bool = JsonOpt) -> None:
    """Delete a report and its file: every URL of it stops working (WH-B4)."""
    from models.billing.store import delete_report
    from workers.settings import get_settings

    async def go() -> bool:
        async with store() as db:
            return await delete_report(
                db, None, report_id, get_settings().billing_policy().report_dir
            )

    ok = run(go())
    emit({"deleted": ok}, as_json, lambda d: "deleted" if d["deleted"] else "no such report")
    if not ok:
        raise typer.Exit(1)


@report_app.command("download")
def report_download(
    report_id: str,
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the CSV."),
    as_json: bool = JsonOpt,
) -> None:
    """Copy a COMPLETED report's CSV from the report folder."""
    from models.billing.store import get_report, report_path
    from workers.settings import get_settings

    async def go() -> Path:
        async with store() as db, db.session() as s:
            r = await get_report(s, None, report_id)
        if r is None or r.status != "COMPLETED" or not r.file_name:
            raise LookupError(f"no completed billing report {report_id}")
        return report_path(get_settings().billing_policy().report_dir, r.file_name)

    src = run(go())
    shutil.copyfile(src, out)
    emit({"file": str(out), "bytes": out.stat().st_size}, as_json, lambda d: d["file"])
