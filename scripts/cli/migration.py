"""`lifecycles migrate ...`: BroadWorks customers migrated to wholesale (WH-M1..M3, PX-8).

    lifecycles migrate precheck FILE --partner P --template T   every problem, nothing written
    lifecycles migrate start FILE --partner P --template T      start, then a live progress bar
        (--customer C instead of --template: into that existing wholesale customer, WH-M3)
    lifecycles migrate status ID [--watch]                      phase, done / failed / left
    lifecycles migrate approve ID                               WH-M1: cut over after review
    lifecycles migrate rollback ID                              remove what it created
    lifecycles migrate report ID [--out FILE]                   per-user results (CSV)
    lifecycles migrate schema                                   the export's JSON Schema

ID is the migration's workflow ID, ``migration-<partner>-<external id>``. ``--json`` prints
JSON (no progress bar); a refusal prints its rule and exits 2.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from scripts.cli.common import JsonOpt, emit, run, store, temporal

if TYPE_CHECKING:
    from temporalio.client import Client

    from models.migration.contract import MigrationProgress, PrecheckReport

migrate_app = typer.Typer(no_args_is_help=True, help="BroadWorks migration (WH-M1..M3, PX-8).")
SETTLED = ("review", "failed", "completed", "rolled_back")


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")


FileArg = typer.Argument(..., exists=True, dir_okay=False, help="A BroadWorks export (JSON).")
PartnerOpt = typer.Option(..., "--partner", help="Partner org id.")
TemplateOpt = typer.Option(
    None, "--template", help="Onboarding template (provisioning ID) of a new customer."
)
CustomerOpt = typer.Option(
    None,
    "--customer",
    help="Migrate into this existing wholesale customer instead of creating one (WH-M3).",
)


def _target(template: str | None, customer: str | None) -> None:
    if (template is None) == (customer is None):
        typer.echo("refused: PX-8 (--template/--customer): give exactly one of them", err=True)
        raise typer.Exit(2)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        typer.echo(f"refused: PX-8 (file): not a JSON export: {err}", err=True)
        raise typer.Exit(2) from None


def _report_text(r: dict[str, Any]) -> str:
    lines = [
        f"{'ok' if r['ok'] else 'REFUSED'}: {r.get('external_id') or '-'} · {r['users']} users · "
        f"{r['locations']} locations · {r['numbers']} numbers · {r['devices']} devices · "
        f"{r['soft_clients']} soft clients",
    ]
    if r.get("packages"):
        lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in r["packages"].items()))
    for kind in ("problems", "warnings"):
        if r[kind]:
            lines.append(f"{kind} ({len(r[kind])}):")
            lines += [
                f"  {p['subject']}: {p['rule']} ({p['field']}): {p['message']}" for p in r[kind]
            ]
    return "\n".join(lines)


def _refused(report: PrecheckReport, as_json: bool) -> NoReturn:
    if as_json:
        emit(report, True)
    else:
        for p in report.problems:
            typer.echo(f"refused: {p.subject}: {p.rule} ({p.field}): {p.message}", err=True)
    raise typer.Exit(2)


@migrate_app.command("precheck")
def precheck(
    file: Path = FileArg,
    partner: str = PartnerOpt,
    template: str | None = TemplateOpt,
    customer: str | None = CustomerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check every field, the duplicates inside the file and the conflicts with what exists
    (WH-S3); nothing is written. Exit 2 when the file would not start."""
    from models.migration.store import precheck as check
    from models.wholesale.tables import WholesaleCustomer

    _target(template, customer)
    data = _load(file)

    async def go() -> PrecheckReport:
        async with store() as db, db.session() as s:
            into = await s.get(WholesaleCustomer, customer) if customer else None
            if customer and (into is None or into.partner_org_id != partner):
                raise LookupError(f"no wholesale customer {customer}")
            report, _ = await check(s, data, partner, template or "", into)
            return report

    report = run(go())
    emit(report, as_json, _report_text)
    if not report.ok:
        raise typer.Exit(2)


@migrate_app.command("start")
def start(
    file: Path = FileArg,
    partner: str = PartnerOpt,
    template: str | None = TemplateOpt,
    customer: str | None = CustomerOpt,
    sub_partner: str | None = typer.Option(None, "--sub-partner"),
    by: str = typer.Option("cli", "--by", help="Who starts it (kept on the migration)."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Show progress to review."),
    as_json: bool = JsonOpt,
) -> None:
    """Precheck, store and start the migration; then follow it to review."""
    from api.migration.routes import start_migration
    from models.migration.store import MigrationRefused
    from models.wholesale.tables import WholesaleCustomer
    from workers.settings import get_settings

    _target(template, customer)
    data = _load(file)
    settings = get_settings()

    async def go() -> tuple[str, MigrationProgress | None]:
        client = await temporal()
        async with store() as db:
            sub = sub_partner
            if customer:
                async with db.session() as s:
                    into = await s.get(WholesaleCustomer, customer)
                if into is None or into.partner_org_id != partner:
                    raise LookupError(f"no wholesale customer {customer}")
                sub = into.sub_partner_org_id
            try:
                m, _ = await start_migration(
                    client,
                    db,
                    settings,
                    data,
                    partner_org_id=partner,
                    sub_partner_org_id=sub,
                    provisioning_id=template or "",
                    task_queue=settings.task_queue,
                    started_by=by,
                    customer_id=customer,
                )
            except MigrationRefused as err:
                _refused(err.report, as_json)
        if not as_json:
            typer.echo(f"started {m.workflow_id}")
        final = await _follow(client, m.workflow_id, quiet=as_json) if follow else None
        return m.workflow_id, final

    wid, final = run(go())
    if as_json:
        emit({"id": wid, "progress": final.model_dump(mode="json") if final else None}, True)


async def _progress(client: Client, wid: str) -> MigrationProgress:
    from models.migration.store import find
    from workflows.migration.workflow import BroadWorksMigration

    try:
        p: MigrationProgress = await client.get_workflow_handle(wid).query(
            BroadWorksMigration.progress
        )
        return p
    except Exception:  # ended and not queryable: the read model
        from models.migration.contract import MigrationProgress as Progress

        async with store() as db, db.session() as s:
            m = await find(s, wid)
        if m is None:
            raise LookupError(f"no migration {wid}") from None
        return Progress(
            migration_id=m.id,
            workflow_id=m.workflow_id,
            phase=m.state,
            total=m.total_users,
            done=m.users_done,
            failed=m.users_failed,
            customer_id=m.customer_id,
            org_id=m.org_id,
            reason=m.reason,
        )


async def _follow(
    client: Client, wid: str, *, quiet: bool = False, until: tuple[str, ...] = SETTLED
) -> MigrationProgress:
    """Poll the ``progress`` query; a live bar (users done / failed / left, rate, time left)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    p = await _progress(client, wid)
    if quiet:
        while not (p.phase in until and not p.action):
            await asyncio.sleep(0.5)
            p = await _progress(client, wid)
        return p
    columns = (
        TextColumn("[bold]{task.fields[phase]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]} · left {task.fields[left]}"),
        TextColumn("· {task.fields[rate]:.1f} users/s · {task.fields[eta]}"),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(
            "users", total=p.total or 1, phase=p.phase, failed=0, left=0, rate=0.0, eta=""
        )
        while True:
            finished = p.moved if p.phase == "cut_over" else p.done + p.failed
            eta = f"~{p.eta_seconds:.0f} s left" if p.eta_seconds is not None else ""
            bar.update(
                task,
                completed=finished,
                total=p.total or 1,
                phase=p.phase,
                failed=p.failed,
                left=p.left,
                rate=p.rate_per_second,
                eta=eta,
            )
            if p.phase in until and not p.action:
                break
            await asyncio.sleep(0.5)
            p = await _progress(client, wid)
    typer.echo(_status_text(p.model_dump(mode="json")))
    return p


def _status_text(p: dict[str, Any]) -> str:
    lines = [
        f"{p['workflow_id']}: {p['phase']}" + (f" ({p['action']})" if p.get("action") else ""),
        f"users {p['total']} · provisioned {p['done']} · failed {p['failed']} · left {p['left']}"
        + (f" · moved {p['moved']}" if p.get("moved") else ""),
    ]
    if p.get("rate_per_second"):
        lines.append(f"rate {p['rate_per_second']:.1f} users/s · eta {p.get('eta_seconds')} s")
    if p.get("waiting_for"):
        lines.append(f"waiting for: {p['waiting_for']}")
    if p.get("reason"):
        lines.append(f"reason: {p['reason']}")
    return "\n".join(lines)


@migrate_app.command("status")
def status(
    migration_id: str,
    watch: bool = typer.Option(False, "--watch", help="Live progress until it settles."),
    as_json: bool = JsonOpt,
) -> None:
    """Phase, users done / failed / left, rate and time left (the ``progress`` query)."""

    async def go() -> MigrationProgress:
        client = await temporal()
        if watch and not as_json:
            return await _follow(client, migration_id)
        return await _progress(client, migration_id)

    p = run(go())
    if as_json or not watch:
        emit(p, as_json, _status_text)


def _decide(
    migration_id: str, update: str, body: dict[str, str], as_json: bool, follow: bool
) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.migration.workflow import BroadWorksMigration

    method = {"approve": BroadWorksMigration.approve, "rollback": BroadWorksMigration.rollback}[
        update
    ]

    async def go() -> Any:
        client = await temporal()
        handle = client.get_workflow_handle(migration_id)
        try:
            res = await handle.execute_update(method, body)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            p = await _progress(client, migration_id)  # ended: completed or rolled back
            typer.echo(
                f"refused: WH-M1 (phase): the migration is {p.phase}; its workflow has ended",
                err=True,
            )
            raise typer.Exit(2) from None
        if follow:
            await _follow(client, migration_id, quiet=as_json)
        return res

    res = run(go())
    emit(res, as_json, lambda d: f"{migration_id}: {d['message']}")


@migrate_app.command("approve")
def approve(
    migration_id: str,
    by: str = typer.Option("cli", "--by"),
    follow: bool = typer.Option(True, "--follow/--no-follow"),
    as_json: bool = JsonOpt,
) -> None:
    """WH-M1: the provisioned data was reviewed; cut over (phones, UC-One to the Webex App,
    PX-8's notice to each user)."""
    _decide(migration_id, "approve", {"by": by}, as_json, follow)


@migrate_app.command("rollback")
def rollback(
    migration_id: str,
    by: str = typer.Option("cli", "--by"),
    reason: str = typer.Option("", "--reason"),
    follow: bool = typer.Option(True, "--follow/--no-follow"),
    as_json: bool = JsonOpt,
) -> None:
    """Remove what the migration created, and nothing else (from review or failed)."""
    _decide(migration_id, "rollback", {"by": by, "reason": reason}, as_json, follow)


@migrate_app.command("report")
def report(
    migration_id: str,
    out: Path | None = typer.Option(None, "--out", help="Write the CSV here."),
    as_json: bool = JsonOpt,
) -> None:
    """The per-user result report: state, attempts, reason, package, number, phones."""
    from models.migration.rules import to_csv
    from models.migration.store import find, user_rows

    async def go() -> list[dict[str, Any]]:
        async with store() as db:
            async with db.session() as s:
                m = await find(s, migration_id)
            if m is None:
                raise LookupError(f"no migration {migration_id}")
            return await user_rows(db, m.id)

    rows = run(go())
    if as_json:
        emit(rows, True)
    elif out is not None:
        out.write_text(to_csv(rows), encoding="utf-8")
        typer.echo(f"{out}: {len(rows)} users")
    else:
        typer.echo(to_csv(rows), nl=False)


@migrate_app.command("schema")
def schema() -> None:
    """The export's JSON Schema (PX-8: one customer per file)."""
    from models.migration.export import BroadWorksExport

    typer.echo(json.dumps(BroadWorksExport.model_json_schema(), indent=2))
