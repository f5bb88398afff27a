"""`lifecycles timeline ID`: a lifecycle's past and planned deadlines, with the notices sent on
each (issue 15); `--png FILE` draws it. ID is a trial, order, wholesale customer, Setup Assist
project (location) or migration id, or any lifecycle's workflow id (`devices-<trial>` for a
trial's devices, or `--lifecycle devices`). From the read models and the outbox
(models/customers/timeline.py); a wholesale customer's approval deadlines come from its
workflow's status query when Temporal answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scripts.cli.common import JsonOpt, emit, run, store, temporal
from workers.settings import get_settings

MARKS = {"done": "✓", "next": "→", "planned": "·", "void": "✗"}


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)


def human(d: dict[str, Any]) -> str:
    lines = [f"{d['lifecycle']} {d['id']}: {d['state']}"]
    if d["next_deadline_kind"]:
        lines[0] += f" (next: {d['next_deadline_kind']} at {d['next_deadline_at'][:16]})"
    for m in d["moments"]:
        lines.append(
            f"{MARKS[m['status']]} {m['at'][:16].replace('T', ' ')}  {m['status']:<7}  "
            f"{m['kind']:<24} {m['label']}"
        )
        for g in m["notices"]:
            shown = ", ".join(g["recipients"])
            more = (
                f" +{g['count'] - len(g['recipients'])}"
                if g["count"] > len(g["recipients"])
                else ""
            )
            lines.append(f"      ✉ {g['kind']} ×{g['count']} ({g['sent']} sent): {shown}{more}")
    return "\n".join(lines)


async def _status(lifecycle: str, row: Any) -> dict[str, Any] | None:
    """The wholesale workflow's status query (its approval deadlines live only there);
    ``None`` when Temporal does not answer: the read model's view is printed then."""
    if lifecycle != "wholesale":
        return None
    import asyncio

    from workflows.wholesale.workflow import WholesaleCustomerProvisioning

    try:
        async with asyncio.timeout(10):
            handle = (await temporal()).get_workflow_handle(row.workflow_id)
            status = await handle.query(WholesaleCustomerProvisioning.status)
    except Exception:  # Temporal away or the run gone: the read model alone
        typer.echo("note: the workflow did not answer; deadlines from the read model", err=True)
        return None
    return status.model_dump(mode="json")


def timeline(
    ident: str = typer.Argument(..., metavar="ID", help="A lifecycle's id or workflow id."),
    lifecycle: str | None = typer.Option(
        None, "--lifecycle", help="trial, devices, order, wholesale, setup_assist, migration"
    ),
    png: Path | None = typer.Option(None, "--png", help="Also draw it into this PNG file."),
    as_json: bool = JsonOpt,
) -> None:
    """A lifecycle's past and planned deadlines with the notices sent on each."""
    from models.customers import timeline as tl

    if lifecycle is not None and lifecycle not in tl.LIFECYCLES:
        typer.echo(f"refused: --lifecycle is one of {', '.join(tl.LIFECYCLES)}", err=True)
        raise typer.Exit(2)

    async def go() -> tl.Timeline:
        async with store() as db, db.session() as s:
            found = await tl.find(s, ident, lifecycle)
        if found is None:
            raise LookupError(f"no lifecycle {ident}")
        kind, row, notices = found
        policy = get_settings().trial_policy()
        calendar = tl.TrialCalendar(
            expiry_notice_days=policy.expiry_notice_days,
            user_notice_days=policy.user_notice_days,
            grace_days=policy.grace_days,
            day_seconds=policy.day_seconds,
        )
        return tl.build(
            kind, row, notices, trial_calendar=calendar, status=await _status(kind, row)
        )

    built = run(go())
    if png is not None:
        png.write_bytes(tl.render_png(built))
    emit(built.model_dump(mode="json"), as_json, human)
    if png is not None and not as_json:
        typer.echo(f"drawn: {png}")
