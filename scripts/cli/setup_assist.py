"""`lifecycles setup-assist ...`: the A-Wholesale order (WH-A1), submitting a project for a
customer location (WH-A2, WH-A7), its status and list, completing tasks (WH-A3, WH-A6),
information requests and answers (WH-A4), and the timeline PNG. Every command takes --json;
a refusal prints the rule and field and exits 2."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, in_session, run, store, temporal
from workers.settings import get_settings

setup_assist_app = typer.Typer(no_args_is_help=True, help="Setup Assist projects (WH-A rules).")


def register(app: typer.Typer) -> None:
    from scripts import demo

    app.add_typer(setup_assist_app, name="setup-assist")
    demo.demo_app.command("setup-assist")(demo_setup_assist)


def demo_setup_assist(
    day_seconds: float = typer.Option(2.0, "--day-seconds", help="Real seconds per day."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the timeline PNGs."),
) -> None:
    """An Express and a Standard Setup Assist project, start to close (beside `lifecycles
    dev`): calls, tasks, an information request reminded and escalated, the support window."""
    from scripts.setup_assist_demo import live

    run(live(day_seconds, out))


def _command(model: Any, payload: dict[str, Any], rule: str) -> Any:
    """The command, or its refusal printed (rule and field) and exit 2; nothing is sent."""
    from api.setup_assist.service import parse
    from models.common.refusal import RuleError

    try:
        return parse(model, {k: v for k, v in payload.items() if v is not None}, rule)
    except RuleError as err:
        for v in err.violations:
            typer.echo(f"refused: {v}", err=True)
        raise typer.Exit(2) from None


def _human(d: dict[str, Any]) -> str:
    lines = [
        f"project {d['project_id']} ({d['flow']}, {d['seats']} seats, {d['country']}): "
        f"{d['state']}",
        f"  submitted {d['submitted_on']}, completion planned {d['completion_date']}",
    ]
    if d.get("waiting_for"):
        lines.append(f"  waiting for: {d['waiting_for']}")
    for ph in d.get("phases", []):
        actual = f"{ph.get('started_on') or '-'} → {ph.get('ended_on') or '…'}"
        late = "  LATE" if ph.get("late") else ""
        lines.append(
            f"  phase {ph['number']} {ph['name']}: planned {ph['planned_start']} → "
            f"{ph['planned_end']}, actual {actual}{late}"
        )
    for t in d.get("open_tasks", []):
        lines.append(f"    [ ] {t['id']} ({t['owner']}) {t['title']}")
    for r in d.get("info_requests", []):
        state = f"answered {r['answered_on']}" if r.get("answered_on") else f"due {r['due_on']}"
        lines.append(f"  information #{r['number']}: {r['topic']} ({state})")
    return "\n".join(lines)


@setup_assist_app.command("order")
def order(
    partner: str = typer.Option(..., "--partner", help="Partner org id."),
    subscription: str = typer.Option(..., "--subscription", help="Its wholesale subscription."),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A1: record the partner's A-Wholesale order (quantity 1, once per partner)."""
    from models.setup_assist.store import order_setup_assist

    async def go() -> dict[str, Any]:
        row = await in_session(order_setup_assist, partner, subscription)
        return row.model_dump(mode="json")

    emit(run(go()), as_json, lambda d: f"A-Wholesale ordered for {d['partner_org_id']}")


@setup_assist_app.command("submit")
def submit(
    partner: str = typer.Option(..., "--partner", help="Partner org id."),
    customer_org: str = typer.Option(..., "--customer-org", help="Customer org id."),
    subscription: str = typer.Option(..., "--subscription", help="Active subscription id."),
    location: str = typer.Option(..., "--location", help="Location id."),
    locations: int = typer.Option(1, "--locations", help="Number of the customer's locations."),
    completion: str = typer.Option(..., "--completion", help="Planned completion, YYYY-MM-DD."),
    requester: str | None = typer.Option(None, "--requester", help="Requester's email."),
    copy: bool = typer.Option(False, "--copy", help="Send the requester a copy."),
    sub_partner: str | None = typer.Option(None, "--sub-partner", help="Acting sub-partner."),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A2: submit a Setup Assist request for one customer location."""
    from api.setup_assist.service import submit_project
    from models.setup_assist.contract import SubmitRequest
    from models.setup_assist.store import Scope

    req = _command(
        SubmitRequest,
        {
            "partner_org_id": partner,
            "customer_org_id": customer_org,
            "subscription_id": subscription,
            "number_of_locations": locations,
            "location_id": location,
            "completion_date": completion,
            "requester_email": requester,
            "send_copy": copy,
        },
        "WH-A2",
    )
    settings = get_settings()

    async def go() -> dict[str, Any]:
        async with store() as db:
            inp = await submit_project(
                await temporal(),
                db,
                settings.setup_assist_policy(),
                req,
                Scope(partner, sub_partner),
                task_queue=settings.task_queue,
            )
        return {
            "project_id": inp.project_id,
            "flow": inp.flow,
            "seats": inp.seats,
            "country": inp.country,
            "charge_quantity": inp.charge.quantity,
        }

    emit(
        run(go()),
        as_json,
        lambda d: f"project {d['project_id']}: {d['flow']} ({d['seats']} seats, {d['country']})",
    )


async def _row(location: str) -> dict[str, Any]:
    from api.setup_assist.service import project_view
    from models.setup_assist.tables import SetupAssistProject

    async with store() as db, db.session() as s:
        row = await s.get(SetupAssistProject, location)
    if row is None:
        raise LookupError(f"no Setup Assist project for location {location}")
    return project_view(row)


@setup_assist_app.command("status")
def status(
    location: str = typer.Argument(..., help="Location id."), as_json: bool = JsonOpt
) -> None:
    """A project: phases planned against actual, open tasks and who owes them."""
    emit(run(_row(location)), as_json, _human)


@setup_assist_app.command("list")
def list_(
    partner: str = typer.Option(..., "--partner", help="Partner org id."),
    state: str | None = typer.Option(None, "--state"),
    as_json: bool = JsonOpt,
) -> None:
    """The partner's projects."""
    from api.setup_assist.service import project_view
    from models.setup_assist.store import Scope, list_projects

    async def go() -> list[dict[str, Any]]:
        rows = await in_session(list_projects, Scope(partner), state=state)
        return [project_view(r) for r in rows]

    emit(
        run(go()),
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['project_id']}  {r['flow']:8} {r['state']:11} owed by "
                f"{','.join(r.get('owed_by') or []) or '-'}"
                for r in rows
            )
            or "no projects"
        ),
    )


def _update(location: str, name: str, payload: Any, as_json: bool) -> None:
    from api.setup_assist.service import update_project

    async def go() -> dict[str, Any]:
        result = await update_project(await temporal(), location, name, payload)
        return result.model_dump(mode="json")

    emit(run(go()), as_json, lambda d: d["message"])


@setup_assist_app.command("complete")
def complete(
    location: str = typer.Argument(..., help="Location id."),
    task: str = typer.Argument(..., help="Task id, e.g. 2.c1."),
    who: str = typer.Option(..., "--who", help="cisco | partner (who owes the task)."),
    note: str = typer.Option(..., "--note"),
    call_minutes: int | None = typer.Option(None, "--call-minutes", help="Express call (WH-A6)."),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A3: complete a task of the current phase."""
    from models.setup_assist.contract import CompleteTask

    payload = {"task_id": task, "who": who, "note": note, "call_minutes": call_minutes}
    cmd = _command(CompleteTask, payload, "WH-A3")
    _update(location, "complete_task", cmd, as_json)


@setup_assist_app.command("request-info")
def request_info(
    location: str = typer.Argument(..., help="Location id."),
    topic: str = typer.Option(..., "--topic"),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A4: Cisco asks the partner for information, due in two business days."""
    from models.setup_assist.contract import RequestInformation

    cmd = _command(RequestInformation, {"topic": topic}, "WH-A4")
    _update(location, "request_information", cmd, as_json)


@setup_assist_app.command("answer")
def answer(
    location: str = typer.Argument(..., help="Location id."),
    number: int = typer.Argument(..., help="Information request number."),
    note: str = typer.Option(..., "--note"),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A4: the partner answers an information request."""
    from models.setup_assist.contract import AnswerInformation

    payload = {"number": number, "note": note}
    cmd = _command(AnswerInformation, payload, "WH-A4")
    _update(location, "answer_information", cmd, as_json)


@setup_assist_app.command("timeline")
def timeline(
    location: str = typer.Argument(..., help="Location id."),
    out: Path = typer.Option(Path("timeline.png"), "--out", "-o", help="PNG file to write."),
    as_json: bool = JsonOpt,
) -> None:
    """The project's timeline as a PNG: phases planned against actual, what is late."""
    from models.setup_assist.timeline import render_png

    d = run(_row(location))
    out.write_bytes(render_png(d))
    emit({"path": str(out), "project_id": d["project_id"]}, as_json, lambda x: x["path"])


@setup_assist_app.command("earliest")
def earliest(
    country: str = typer.Option(..., "--country", help="ISO 3166 alpha-2."),
    on: str = typer.Option("", "--on", help="Submission date (default: today, UTC)."),
    as_json: bool = JsonOpt,
) -> None:
    """WH-A2: the earliest onboarding completion for a request submitted on a date."""
    from datetime import UTC, datetime

    from models.setup_assist import rules

    day = date.fromisoformat(on) if on else datetime.now(UTC).date()
    days = get_settings().setup_assist_min_notice_business_days
    try:
        cal = rules.calendar_for(country, range(day.year, day.year + 2))
    except rules.UnknownCountry:
        typer.echo(f"refused: WH-A2 (country): no business-day calendar for {country}", err=True)
        raise typer.Exit(2) from None
    first = rules.earliest_completion(cal, day, days)
    emit(
        {
            "country": cal.country,
            "submitted_on": day.isoformat(),
            "earliest": first.isoformat(),
            "weekend": sorted(cal.weekend),
        },
        as_json,
        lambda d: d["earliest"],
    )
