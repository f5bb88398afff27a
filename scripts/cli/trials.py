"""`lifecycles trial ...` and `lifecycles notices ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import BaseModel

from models.trials.contract import (
    AcceptConsent,
    CancelRequest,
    ChangeServicesRequest,
    ConvertRequest,
    ExtendRequest,
    ProvisionRequest,
    ResendConsent,
    TrialStatus,
    UpdateResult,
)
from scripts.cli.common import JsonOpt, emit, run, store, temporal
from workers.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from temporalio.workflow import UpdateMethodMultiParam

    from workflows.trials.workflow import TrialLifecycle

trial_app = typer.Typer(no_args_is_help=True, help="Enterprise trials (TR rules).")
notices_app = typer.Typer(no_args_is_help=True, help="The notice outbox.")
M = TypeVar("M", bound=BaseModel)


def _wid(trial_id: str) -> str:
    from models.trials.contract import trial_workflow_id

    return trial_workflow_id(trial_id)


async def _handle(trial_id: str):
    return (await temporal()).get_workflow_handle(_wid(trial_id))


def _workflow() -> type[TrialLifecycle]:
    """The workflow class, whose methods name its updates, signals and queries (imported
    when a command talks to Temporal, not for `--help`)."""
    from workflows.trials.workflow import TrialLifecycle

    return TrialLifecycle


def _human_status(d: dict[str, Any]) -> str:
    lines = [f"trial {d['trial_id']}: {d['state']}"]
    for k in (
        "services",
        "license_count",
        "partner_admin_level",
        "consent_deadline_at",
        "activated_at",
        "ends_at",
        "grace_ends_at",
        "numbers_release_at",
        "numbers_released_at",
        "order_id",
        "waiting_for",
    ):
        if d.get(k) not in (None, [], ""):
            lines.append(f"  {k}: {d[k]}")
    for n in d.get("notices", []):
        lines.append(f"  notice {n['kind']} -> {n['recipient']} sent {n['sent_at']}")
    return "\n".join(lines)


@trial_app.command("start")
def start(
    partner: str = typer.Option(..., "--partner", help="Partner org id."),
    by: str = typer.Option(..., "--by", help="Email of the partner admin (sales roles, TR-S1)."),
    org: str | None = typer.Option(None, "--org", help="Existing customer org id."),
    company: str | None = typer.Option(None, "--company", help="New customer: company name."),
    admin_email: str | None = typer.Option(None, "--admin-email"),
    vertical: str | None = typer.Option(None, "--vertical"),
    country: str | None = typer.Option(None, "--country"),
    services: str = typer.Option(..., "--services", help="calling,meetings,messaging,devices"),
    licenses: int | None = typer.Option(None, "--licenses"),
    days: int | None = typer.Option(None, "--days"),
    site_url: str | None = typer.Option(None, "--site-url"),
    timezone: str | None = typer.Option(None, "--timezone"),
    setup: str = typer.Option("later", "--setup", help="now | later (TR-S5)"),
    number: list[str] = typer.Option([], "--number", help="New customer: E.164 number."),
    as_json: bool = JsonOpt,
) -> None:
    """Start a trial for a new customer (--company ...) or an existing org (--org)."""
    fields: dict[str, Any] = dict(
        partner_org_id=partner,
        started_by=by,
        org_id=org,
        admin_email=admin_email if org else None,
        customer=None
        if org
        else dict(
            company_name=company,
            admin_email=admin_email,
            vertical=vertical,
            country=country,
            site_url=site_url,
            timezone=timezone,
            numbers=number,
        ),
        services=[s.strip() for s in services.split(",") if s.strip()],
        license_count=licenses,
        days=days,
        setup=setup,
        site_url=site_url,
        timezone=timezone,
    )

    async def go() -> dict[str, str]:
        from models.trials.rules import parse_request
        from workers.starter import start_trial

        req = parse_request(fields)  # a malformed field: a refusal naming rule and field
        async with store() as db:
            handle = await start_trial(await temporal(), db, get_settings(), req)
        return {"trial_id": handle.id.removeprefix("trial-"), "workflow_id": handle.id}

    emit(run(go()), as_json, lambda d: f"trial {d['trial_id']} started ({d['workflow_id']})")


@trial_app.command("status")
def status(trial_id: str, as_json: bool = JsonOpt) -> None:
    """The live status (query `status`)."""

    async def go() -> TrialStatus:
        h = await _handle(trial_id)
        return await h.query(_workflow().status)

    emit(run(go()), as_json, _human_status)


def _command(cls: type[M], rule: str, **fields: Any) -> M:
    """Build a command; a malformed field is refused as the workflow would refuse it,
    naming the rule and the field (exit 2), before anything is sent."""
    from pydantic import ValidationError

    try:
        return cls.model_validate(fields)
    except ValidationError as err:
        for e in err.errors():
            field = ".".join(map(str, e["loc"])) or "input"
            typer.echo(f"refused: {rule} ({field}): {e['msg']}", err=True)
        raise typer.Exit(2) from None


def _update(
    trial_id: str,
    update: UpdateMethodMultiParam[[TrialLifecycle, Any], UpdateResult],
    payload: BaseModel,
    as_json: bool,
) -> None:
    async def go() -> UpdateResult:
        h = await _handle(trial_id)
        return await h.execute_update(update, payload)

    emit(run(go()), as_json, lambda d: f"{d['state']}: {d['message']}")


def _signal(
    trial_id: str, signal: Callable[[TrialLifecycle, Any], None], payload: BaseModel, as_json: bool
) -> None:
    name = signal.__name__  # the signal's name (no handler renames its signal)

    async def go() -> None:
        h = await _handle(trial_id)
        await h.signal(signal, payload)

    run(go())
    emit({"signalled": name, "trial_id": trial_id}, as_json, lambda d: f"sent {name}")


@trial_app.command("accept-consent")
def accept_consent(
    trial_id: str,
    by: str = typer.Option(..., "--by", help="Email of a full admin of the customer org."),
    grant_full_admin: bool = typer.Option(False, "--grant-full-admin/--provisioning-admin"),
    as_json: bool = JsonOpt,
) -> None:
    """The customer's full admin accepts (TR-C2, TR-C4); a refusal (not a full admin, not
    pending, the window closed) is answered with its rule and exit 2."""
    _update(
        trial_id,
        _workflow().give_consent,
        _command(AcceptConsent, "TR-C3", accepted_by=by, grant_full_admin=grant_full_admin),
        as_json,
    )


@trial_app.command("resend-consent")
def resend_consent(trial_id: str, as_json: bool = JsonOpt) -> None:
    """Send the consent email again; the 30-day clock does not restart (TR-C5)."""
    _signal(trial_id, _workflow().resend_consent, ResendConsent(), as_json)


@trial_app.command("provision")
def provision(trial_id: str, as_json: bool = JsonOpt) -> None:
    """Provision the trial's services now; the trial period starts (TR-S5)."""
    _update(trial_id, _workflow().provision, ProvisionRequest(), as_json)


@trial_app.command("extend")
def extend(
    trial_id: str,
    days: int = typer.Option(..., "--days", help="The trial ends today + DAYS (TR-D1)."),
    force: bool = typer.Option(False, "--force", help="Allow the end to move earlier."),
    as_json: bool = JsonOpt,
) -> None:
    """Set the end to today + DAYS."""
    _update(
        trial_id,
        _workflow().extend,
        _command(ExtendRequest, "TR-D1", days=days, force=force),
        as_json,
    )


@trial_app.command("services")
def services(
    trial_id: str,
    add: list[str] = typer.Option([], "--add"),
    remove: list[str] = typer.Option([], "--remove"),
    licenses: int | None = typer.Option(None, "--licenses"),
    site_url: str | None = typer.Option(None, "--site-url"),
    timezone: str | None = typer.Option(None, "--timezone"),
    as_json: bool = JsonOpt,
) -> None:
    """Add or remove services, or change the license count (TR-D3)."""
    req = _command(
        ChangeServicesRequest,
        "TR-D3",
        add=add,
        remove=remove,
        license_count=licenses,
        site_url=site_url,
        timezone=timezone,
    )
    _update(trial_id, _workflow().change_services, req, as_json)


@trial_app.command("convert")
def convert(
    trial_id: str,
    order: str = typer.Option(..., "--order"),
    contact: str = typer.Option(..., "--contact", help="Provisioning contact email (TR-V3)."),
    confirm_new_org: bool = typer.Option(False, "--confirm-new-org"),
    through_distributor: bool = typer.Option(False, "--through-distributor"),
    as_json: bool = JsonOpt,
) -> None:
    """Convert to paid through an order (TR-V1..V3), during the trial or its grace."""
    req = _command(
        ConvertRequest,
        "TR-V1",
        order_id=order,
        provisioning_contact_email=contact,
        confirm_new_org=confirm_new_org,
        through_distributor=through_distributor,
    )
    _update(trial_id, _workflow().convert, req, as_json)


@trial_app.command("cancel")
def cancel(
    trial_id: str,
    by: str = typer.Option("partner", "--by", help="partner | customer"),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = JsonOpt,
) -> None:
    """Cancel the trial (TR-D4)."""
    _signal(
        trial_id,
        _workflow().cancel,
        _command(CancelRequest, "TR-D4", by=by, reason=reason),
        as_json,
    )


@trial_app.command("list")
def list_trials(
    state: str | None = typer.Option(None, "--state"),
    partner: str | None = typer.Option(None, "--partner"),
    as_json: bool = JsonOpt,
) -> None:
    """Trials from the PostgreSQL read model (not from eventually-consistent visibility)."""

    async def go() -> list[dict[str, Any]]:
        from sqlmodel import col, select

        from models.common.tables import Org
        from models.trials.tables import Trial

        # the company's name from our org table (never from search attributes)
        q = (
            select(Trial, Org.name)
            .join(Org, col(Org.id) == Trial.customer_org_id)
            .order_by(col(Trial.created_at))
        )
        if state:
            q = q.where(Trial.state == state)
        if partner:
            q = q.where(Trial.partner_org_id == partner)
        async with store() as db, db.session() as s:
            rows = (await s.exec(q)).all()
        keep = (
            "id",
            "state",
            "partner_org_id",
            "customer_org_id",
            "services",
            "license_count",
            "ends_at",
            "grace_ends_at",
            "next_deadline_kind",
            "next_deadline_at",
        )
        return [{**{k: getattr(r, k) for k in keep}, "company": name} for r, name in rows]

    def human(rows: list[dict[str, Any]]) -> str:
        return (
            "\n".join(
                f"{r['id']}  {r['state']:<22} {r['company']:<24} partner={r['partner_org_id']} "
                f"wakes={r['next_deadline_kind'] or '-'}@{r['next_deadline_at'] or '-'}"
                for r in rows
            )
            or "no trials"
        )

    emit(run(go()), as_json, human)


@notices_app.command("list")
def notices_list(
    trial: str | None = typer.Option(None, "--trial"),
    kind: str | None = typer.Option(None, "--kind"),
    body: bool = typer.Option(False, "--body", help="Show the rendered email."),
    as_json: bool = JsonOpt,
) -> None:
    """The outbox: every notice with its recipient and when it was sent."""

    async def go() -> list[dict[str, Any]]:
        from sqlmodel import col, select

        from models.common.tables import Notice

        q = select(Notice).order_by(col(Notice.id))
        if trial:
            q = q.where(Notice.trial_id == trial)
        if kind:
            q = q.where(Notice.kind == kind)
        async with store() as db, db.session() as s:
            rows = (await s.exec(q)).all()
        return [r.model_dump(exclude=set() if body else {"body"}) for r in rows]

    def human(rows: list[dict[str, Any]]) -> str:
        out = []
        for r in rows:
            sent = str(r["sent_at"] or "unsent")[:19]
            out.append(
                f"{sent:<20} {r['kind']:<18} {r['recipient']:<32} "
                f"trial={r['trial_id']} via={r['transport']}  {r['subject']}"
            )
            if body:
                out.append("    " + r["body"].replace("\n", "\n    "))
        return "\n".join(out) or "no notices"

    emit(run(go()), as_json, human)
