"""`lifecycles token ...` and `lifecycles wholesale ...`: API tokens, onboarding templates,
sub-partners, the restricted party list, and the operator's signals to customer workflows."""

from __future__ import annotations

from pathlib import Path

import typer

from scripts.cli.common import JsonOpt, emit, in_session, run, store, temporal

token_app = typer.Typer(no_args_is_help=True, help="Wholesale API bearer tokens.")
wholesale_app = typer.Typer(no_args_is_help=True, help="Wholesale (WH, PX rules).")
rpl_app = typer.Typer(no_args_is_help=True, help="Restricted/denied party list (WH-C2).")
template_app = typer.Typer(no_args_is_help=True, help="Onboarding templates (WH-P2).")
subpartner_app = typer.Typer(no_args_is_help=True, help="Sub-partners (WH-SP1, PX-6).")
customer_app = typer.Typer(no_args_is_help=True, help="Wholesale customers' workflows.")
subscriber_app = typer.Typer(no_args_is_help=True, help="Wholesale subscribers (PX-2).")
wholesale_app.add_typer(rpl_app, name="rpl")
wholesale_app.add_typer(template_app, name="template")
wholesale_app.add_typer(subpartner_app, name="subpartner")
wholesale_app.add_typer(customer_app, name="customer")
wholesale_app.add_typer(subscriber_app, name="subscriber")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.add_typer(wholesale_app, name="wholesale")


@token_app.command("create")
def token_create(
    partner: str | None = typer.Option(None, "--partner", help="Partner org id."),
    admin: str = typer.Option(..., "--admin", help="Email of the admin the token acts for."),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        help="wholesale_customers_read|_write, wholesale_subscribers_read|_write (repeat); "
        "default: all four.",
    ),
    sub_partner: str | None = typer.Option(None, "--sub-partner", help="Sub-partner org id."),
    customer: str | None = typer.Option(
        None,
        "--customer",
        help="A customer admin's token instead (WH-C6): scoped to this wholesale customer, "
        "refused what restricted-by-partner mode restricts while it is on.",
    ),
    name: str = typer.Option("", "--name"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a bearer token (printed once; only its hash is stored): a partner admin's
    (--partner), or a customer admin's (--customer)."""
    from models.wholesale.store import SCOPES, create_customer_admin_token, create_token

    if (partner is None) == (customer is None):
        typer.echo("refused: (--partner/--customer): give exactly one of them", err=True)
        raise typer.Exit(2)

    async def go() -> tuple[str, str]:
        if customer is not None:
            return await in_session(
                create_customer_admin_token,
                customer_id=customer,
                admin_email=admin,
                scopes=list(scope) or None,
                name=name,
            )
        assert partner is not None
        return await in_session(
            create_token,
            partner_org_id=partner,
            admin_email=admin,
            scopes=list(scope) or list(SCOPES),
            name=name,
            sub_partner_org_id=sub_partner,
        )

    token_id, token = run(go())
    emit({"token_id": token_id, "token": token}, as_json, lambda d: d["token"])


@token_app.command("revoke")
def token_revoke(token_id: str, as_json: bool = JsonOpt) -> None:
    from models.wholesale.store import revoke_token

    ok = run(in_session(revoke_token, token_id))
    emit({"revoked": ok}, as_json, lambda d: "revoked" if d["revoked"] else "no such token")


@rpl_app.command("load")
def rpl_load(
    csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV file."),
    append: bool = typer.Option(False, "--append", help="Add to the list instead of replacing."),
    as_json: bool = JsonOpt,
) -> None:
    """Load the list from a CSV (columns: name, country, domain, source). Replacing it
    clears the holds of parties no longer listed at their next recheck."""
    from models.wholesale.store import load_restricted_parties, read_rpl_csv

    async def go() -> int:
        rows = read_rpl_csv(csv_path)
        return await in_session(load_restricted_parties, rows, replace=not append)

    n = run(go())
    emit({"loaded": n}, as_json, lambda d: f"{d['loaded']} entries loaded")


@template_app.command("create")
def template_create(
    partner: str = typer.Option(..., "--partner"),
    name: str = typer.Option(..., "--name"),
    country: str = typer.Option(..., "--country"),
    admin: str = typer.Option(..., "--sp-admin", help="Service provider admin email."),
    subscription: str = typer.Option(..., "--subscription", help="Wholesale subscription ID."),
    brand: str = typer.Option(..., "--brand"),
    language: str = typer.Option("en", "--language"),
    pstn: str | None = typer.Option(None, "--pstn", help="Cloud-connected PSTN provider."),
    sso_idp: str | None = typer.Option(None, "--sso-idp", help="Partner SSO IdP entity ID."),
    restrict_admin_invites: bool = typer.Option(False, "--restrict-admin-invites"),
    disable_webex_calling: bool = typer.Option(False, "--disable-webex-calling"),
    as_json: bool = JsonOpt,
) -> None:
    """Create an onboarding template; prints its provisioning ID."""
    from models.wholesale.store import TemplateSpec, create_template

    spec = TemplateSpec(
        name=name,
        country=country.upper(),
        sp_admin_email=admin,
        subscription_id=subscription,
        brand_name=brand,
        language=language,
        auth_mode="partner_sso" if sso_idp else "webex",
        idp_entity_id=sso_idp,
        pstn_provider=pstn,
        restrict_admin_invites=restrict_admin_invites,
        disable_webex_calling=disable_webex_calling,
    )
    pid = run(in_session(create_template, partner, spec))
    emit({"provisioning_id": pid}, as_json, lambda d: d["provisioning_id"])


@subpartner_app.command("create")
def subpartner_create(
    parent: str = typer.Option(..., "--parent", help="Parent partner org id."),
    name: str = typer.Option(..., "--name"),
    subscription: str = typer.Option(..., "--subscription"),
    admin: list[str] = typer.Option([], "--admin", help="EMAIL:ROLE (full, ...)."),
    as_json: bool = JsonOpt,
) -> None:
    from models.common.orgs import PARTNER_ROLES, parse_admins
    from models.wholesale.store import create_sub_partner

    async def go() -> str:
        admins = parse_admins(admin, PARTNER_ROLES, "admin")
        return await in_session(create_sub_partner, parent, name, subscription, admins)

    org_id = run(go())
    emit({"org_id": org_id}, as_json, lambda d: d["org_id"])


def _set_state(org_id: str, state: str, as_json: bool) -> None:
    from models.wholesale.store import set_sub_partner_state

    run(in_session(set_sub_partner_state, org_id, state))
    emit({"org_id": org_id, "provisioning_state": state}, as_json, lambda d: f"{org_id}: {state}")


@subpartner_app.command("suspend")
def subpartner_suspend(org_id: str, as_json: bool = JsonOpt) -> None:
    """PX-6: a suspended sub-partner can only delete."""
    _set_state(org_id, "suspended", as_json)


@subpartner_app.command("activate")
def subpartner_activate(org_id: str, as_json: bool = JsonOpt) -> None:
    _set_state(org_id, "active", as_json)


async def _handle(customer_id: str):
    from models.wholesale.contract import customer_workflow_id

    return (await temporal()).get_workflow_handle(customer_workflow_id(customer_id))


@customer_app.command("list")
def customer_list(
    partner: str | None = typer.Option(None, "--partner"),
    status: str | None = typer.Option(None, "--status", help="e.g. provisioning, error"),
    as_json: bool = JsonOpt,
) -> None:
    """Wholesale customers from the read model, named (company from the org table)."""
    from models.customers.store import wholesale_customers

    def human(rows: list[dict]) -> str:
        return (
            "\n".join(
                f"{r['id']}  {r['status']:<24} {r['company'] or '-':<28} ext={r['external_id']} "
                f"partner={r['partner_org_id']}"
                + (f" codes={','.join(map(str, r['codes']))}" if r["codes"] else "")
                for r in rows
            )
            or "no wholesale customers"
        )

    emit(run(in_session(wholesale_customers, partner, status)), as_json, human)


@customer_app.command("status")
def customer_status(customer_id: str, as_json: bool = JsonOpt) -> None:
    """The workflow's view: state, hold, next deadline, what it waits for."""
    from workflows.wholesale.workflow import WholesaleCustomerProvisioning

    async def go():
        return await (await _handle(customer_id)).query(WholesaleCustomerProvisioning.status)

    emit(run(go()), as_json)


@customer_app.command("reconcile")
def customer_reconcile(
    older_than: float = typer.Option(60.0, "--older-than", help="Seconds since the row's write."),
    as_json: bool = JsonOpt,
) -> None:
    """Start the workflow of customers still `provisioning` with none (a request that died
    between writing the row and starting it, issue 9). Idempotent; the API does it every
    minute too."""
    from datetime import timedelta

    from api.wholesale.reconcile import reconcile_customers
    from workers.settings import get_settings

    async def go() -> int:
        settings = get_settings()
        async with store() as db:
            return await reconcile_customers(
                await temporal(), db, settings, settings.task_queue, timedelta(seconds=older_than)
            )

    n = run(go())
    emit({"looked_at": n}, as_json, lambda d: f"{d['looked_at']} customers looked at")


@customer_app.command("restrict")
def customer_restrict(
    customer_id: str = typer.Argument(..., help="Wholesale customer id (or its org id)."),
    on: bool = typer.Option(..., "--on/--off", help="Restricted-by-partner mode on or off."),
    partner: str | None = typer.Option(
        None, "--partner", help="Act as this partner (another partner's customer is unknown)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """WH-C6: switch the customer's restricted-by-partner mode (on by default). While on,
    its customer admins cannot add or modify users, reset packages or start a migration
    (WH-M3)."""
    from sqlmodel import col, select

    from models.wholesale.store import Scope, set_restricted
    from models.wholesale.tables import WholesaleCustomer

    async def go() -> dict[str, object]:
        async with store() as db:
            async with db.session() as s:
                c = (
                    await s.exec(
                        select(WholesaleCustomer).where(
                            (col(WholesaleCustomer.id) == customer_id)
                            | (col(WholesaleCustomer.org_id) == customer_id)
                        )
                    )
                ).first()
            if c is None or (partner and c.partner_org_id != partner):
                raise LookupError(f"no wholesale customer {customer_id}")
            c = await set_restricted(db, Scope(c.partner_org_id, c.sub_partner_org_id), c.id, on)
            return {"customer_id": c.id, "restricted_by_partner": c.restricted_by_partner}

    emit(
        run(go()),
        as_json,
        lambda d: (
            f"{d['customer_id']}: restricted-by-partner "
            + ("on" if d["restricted_by_partner"] else "off")
        ),
    )


@customer_app.command("clear-compliance")
def customer_clear(
    customer_id: str,
    by: str = typer.Option("operations", "--by"),
    note: str = typer.Option("", "--note"),
    as_json: bool = JsonOpt,
) -> None:
    """WH-C2: signal `compliance_cleared` (an operator released the hold)."""
    from models.wholesale.contract import ComplianceCleared
    from workflows.wholesale.workflow import WholesaleCustomerProvisioning

    async def go() -> None:
        h = await _handle(customer_id)
        await h.signal(
            WholesaleCustomerProvisioning.compliance_cleared, ComplianceCleared(by=by, note=note)
        )

    run(go())
    emit({"signalled": "compliance_cleared"}, as_json, lambda d: "signalled compliance_cleared")


@customer_app.command("attach-decision")
def customer_attach(
    customer_id: str,
    refuse: bool = typer.Option(False, "--refuse", help="The org admin refused."),
    by: str = typer.Option("", "--by"),
    as_json: bool = JsonOpt,
) -> None:
    """PX-4: signal `org_attach_decision` (the existing org's admin answered)."""
    from models.wholesale.contract import AttachDecision
    from workflows.wholesale.workflow import WholesaleCustomerProvisioning

    async def go() -> None:
        h = await _handle(customer_id)
        await h.signal(
            WholesaleCustomerProvisioning.org_attach_decision,
            AttachDecision(approved=not refuse, by=by),
        )

    run(go())
    emit({"signalled": "org_attach_decision"}, as_json, lambda d: "signalled org_attach_decision")


@subscriber_app.command("accept-move")
def subscriber_accept_move(subscriber_id: str, as_json: bool = JsonOpt) -> None:
    """PX-2: the user consented; move it from its free account into the customer's org."""
    from models.wholesale.store import accept_user_move

    async def go() -> dict[str, str]:
        async with store() as db:
            sub = await accept_user_move(db, None, subscriber_id)
        return {"subscriber_id": sub.id, "status": sub.status}

    emit(run(go()), as_json, lambda d: f"{d['subscriber_id']}: {d['status']}")
