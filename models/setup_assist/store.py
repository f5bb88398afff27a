"""Setup Assist transactions, called by the API, the CLI and the activities alike:
the A-Wholesale order (WH-A1), the submission checks (WH-A1, WH-A2, WH-A7) that reserve the
location's project, and the one transaction per state transition that writes the read
model, the outbox rows and (at opening) the charge (WH-A5, a line of billing's
``billing_charge`` through its ``add_charge`` hook).

A refusal is a ``RuleError`` with every violation found, each naming its rule and field; a
refused request writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.billing.store import ChargeSpec, add_charge
from models.billing.tables import BillingCharge
from models.common.db import Database
from models.common.mail import Mailer
from models.common.outbox import deliver, org_emails, put_many, render
from models.common.refusal import RuleError, Violation, raise_if
from models.common.tables import Org
from models.setup_assist import rules
from models.setup_assist.contract import (
    BusinessCalendar,
    ChargeLine,
    NoticeOrder,
    NoticeSent,
    ProjectInput,
    SetupAssistPolicy,
    Step,
    SubmitRequest,
    setup_assist_workflow_id,
)
from models.setup_assist.tables import SetupAssistEntitlement, SetupAssistProject
from models.wholesale.tables import (
    WholesaleCustomer,
    WholesaleSubPartner,
    WholesaleSubscriber,
    WholesaleTemplate,
)

# errorCode values of Setup Assist refusals (Webex-style numbers, beside wholesale's).
REFUSED = 10070  # a WH-A1/WH-A2 precondition is not met
PROJECT_EXISTS = 10071  # WH-A7
NOT_NOW = 10072  # a task or request that the project's state does not allow

SKUS = {
    "express": ("SETUP_ASSIST_EXPRESS", "A-Wholesale-Setup-Assist-Express", "flat, per location"),
    "standard": ("SETUP_ASSIST_STANDARD", "A-Wholesale-Setup-Assist-Standard", "per user"),
}


def _now() -> datetime:
    return datetime.now(UTC)


def bad(rule: str, field: str, message: str) -> Violation:
    return Violation(rule, field, message, REFUSED, 400)


def conflict(rule: str, field: str, message: str, code: int = REFUSED) -> Violation:
    return Violation(rule, field, message, code, 409)


@dataclass(frozen=True)
class Scope:
    """Who asks: a partner, or one of its sub-partners (who sees only its own customers)."""

    partner_org_id: str
    sub_partner_org_id: str | None = None

    def sees(self, partner_org_id: str, sub_partner_org_id: str | None) -> bool:
        return partner_org_id == self.partner_org_id and (
            not self.sub_partner_org_id or sub_partner_org_id == self.sub_partner_org_id
        )


# --- WH-A1: the A-Wholesale order ---------------------------------------------------------------


async def partner_subscriptions(s: AsyncSession, partner_org_id: str) -> set[str]:
    """The partner's wholesale subscriptions: those its onboarding templates and its
    sub-partners name (the store has no subscription table of its own)."""
    subs = set(
        (
            await s.exec(
                select(WholesaleTemplate.subscription_id).where(
                    WholesaleTemplate.partner_org_id == partner_org_id
                )
            )
        ).all()
    )
    subs |= set(
        (
            await s.exec(
                select(WholesaleSubPartner.subscription_id).where(
                    WholesaleSubPartner.parent_org_id == partner_org_id
                )
            )
        ).all()
    )
    return subs


async def order_setup_assist(
    s: AsyncSession, partner_org_id: str, subscription_id: str
) -> SetupAssistEntitlement:
    """WH-A1: A-Wholesale, quantity 1, once per partner, on one of its subscriptions."""
    partner = await s.get(Org, partner_org_id)
    if partner is None or partner.kind != "partner":
        raise RuleError([bad("WH-A1", "partner_org_id", f"no partner org {partner_org_id}")])
    if subscription_id not in await partner_subscriptions(s, partner_org_id):
        raise RuleError(
            [bad("WH-A1", "subscription_id", "not a wholesale subscription of this partner")]
        )
    if await s.get(SetupAssistEntitlement, partner_org_id) is not None:
        raise RuleError(
            [conflict("WH-A1", "partner_org_id", "A-Wholesale is ordered once per partner")]
        )
    row = SetupAssistEntitlement(
        partner_org_id=partner_org_id,
        subscription_id=subscription_id,
        sku="A-Wholesale",
        quantity=1,
        ordered_at=_now(),
    )
    s.add(row)
    return row


# --- WH-A1, WH-A2, WH-A7: the submission ---------------------------------------------------------


def request_hash(req: SubmitRequest) -> str:
    payload = req.model_dump(mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def _customer(s: AsyncSession, scope: Scope, org_id: str) -> WholesaleCustomer | None:
    rows = (
        await s.exec(
            select(WholesaleCustomer)
            .where(WholesaleCustomer.org_id == org_id)
            .order_by(col(WholesaleCustomer.created_at).desc())
        )
    ).all()
    for c in rows:
        if scope.sees(c.partner_org_id, c.sub_partner_org_id):
            return c
    return None


async def resolve_submission(
    s: AsyncSession,
    req: SubmitRequest,
    scope: Scope,
    policy: SetupAssistPolicy,
    today: date,
    *,
    check_existing: bool = True,
) -> ProjectInput:
    """Every submission rule against the store; the workflow input, or ``RuleError`` naming
    each rule and field that refused. Writes nothing."""
    problems: list[Violation] = []
    if req.partner_org_id != scope.partner_org_id:
        raise RuleError([bad("WH-A2", "partner_org_id", "not the partner org of this token")])
    templates = (
        await s.exec(
            select(func.count())
            .select_from(WholesaleTemplate)
            .where(WholesaleTemplate.partner_org_id == req.partner_org_id)
        )
    ).one()
    if not templates:
        problems.append(
            bad("WH-A2", "partner_org_id", "the partner is not fully onboarded to wholesale")
        )
    elif req.subscription_id not in await partner_subscriptions(s, req.partner_org_id):
        problems.append(
            bad("WH-A2", "subscription_id", "not an active wholesale subscription of the partner")
        )
    ent = await s.get(SetupAssistEntitlement, req.partner_org_id)
    if ent is None:
        problems.append(
            bad("WH-A1", "subscription_id", "the partner has no Setup Assist (A-Wholesale)")
        )
    elif ent.subscription_id != req.subscription_id:
        problems.append(
            bad("WH-A1", "subscription_id", "Setup Assist (A-Wholesale) is on another subscription")
        )

    customer = await _customer(s, scope, req.customer_org_id)
    seats = 0
    country = ""
    if customer is None:
        problems.append(bad("WH-A2", "customer_org_id", "no wholesale customer with this org"))
    else:
        if customer.status != "provisioned":
            problems.append(
                bad(
                    "WH-A2",
                    "customer_org_id",
                    f"the customer is {customer.status}, not provisioned",
                )
            )
        locations = 1 if customer.location_id else 0
        if customer.location_id != req.location_id:
            problems.append(bad("WH-A2", "location_id", "no such location of this customer"))
        if req.number_of_locations != locations:
            problems.append(
                bad(
                    "WH-A2",
                    "number_of_locations",
                    f"the customer has {locations} location(s), not {req.number_of_locations}",
                )
            )
        users = (
            await s.exec(
                select(WholesaleSubscriber.status, WholesaleSubscriber.location_id).where(
                    WholesaleSubscriber.customer_id == customer.id
                )
            )
        ).all()
        waiting = [st for st, _ in users if st != "provisioned"]
        if waiting:
            problems.append(
                bad("WH-A2", "customer_org_id", f"{len(waiting)} user(s) are not provisioned yet")
            )
        seats = sum(1 for _, loc in users if loc == req.location_id)
        if not seats and customer.location_id == req.location_id:
            problems.append(bad("WH-A2", "location_id", "the location has no provisioned users"))
        country = str((customer.address or {}).get("country") or "").upper()

    cal: rules.Calendar | None = None
    if country:
        try:
            cal = rules.calendar_for(country, range(today.year, today.year + 3))
        except rules.UnknownCountry:
            problems.append(
                bad("WH-A2", "location_id", f"no business-day calendar for country {country}")
            )
    if cal is not None and not rules.notice_ok(
        cal, today, req.completion_date, policy.min_notice_business_days
    ):
        earliest = rules.earliest_completion(cal, today, policy.min_notice_business_days)
        problems.append(
            bad(
                "WH-A2",
                "completion_date",
                f"onboarding completion must be at least {policy.min_notice_business_days} "
                f"business days away in {country}: {earliest.isoformat()} at the earliest",
            )
        )
    if check_existing and await s.get(SetupAssistProject, req.location_id) is not None:
        problems.append(
            conflict("WH-A7", "location_id", "this location already has a project", PROJECT_EXISTS)
        )
    raise_if(problems)
    assert customer is not None and cal is not None
    flow = rules.flow_for(seats, policy.express_max_seats)
    service, sku, how = SKUS[flow]
    return ProjectInput(
        project_id=req.location_id,
        location_id=req.location_id,
        partner_org_id=req.partner_org_id,
        sub_partner_org_id=customer.sub_partner_org_id,
        customer_id=customer.id,
        customer_org_id=req.customer_org_id,
        subscription_id=req.subscription_id,
        flow=flow,
        seats=seats,
        country=country,
        submitted_on=today,
        completion_date=req.completion_date,
        requester_email=req.requester_email,
        send_copy=req.send_copy,
        calendar=BusinessCalendar.of(cal),
        policy=policy,
        charge=ChargeLine(
            project_id=req.location_id,
            partner_org_id=req.partner_org_id,
            sub_partner_org_id=customer.sub_partner_org_id,
            subscription_id=req.subscription_id,
            customer_id=customer.id,
            customer_org_id=req.customer_org_id,
            external_customer_id=customer.external_id,
            location_id=req.location_id,
            flow=flow,
            service_name=service,
            sku=sku,
            description=f"Wholesale Setup Assist {flow.title()} ({how})",
            quantity=rules.charge_quantity(flow, seats),
            charged_on=today,
        ),
    )


async def submit(
    db: Database,
    req: SubmitRequest,
    scope: Scope,
    policy: SetupAssistPolicy,
    today: date | None = None,
) -> ProjectInput:
    """Check every rule and reserve the location's project row (WH-A7: the location is
    unique, so of two racing submissions one is refused), in one transaction. The caller
    then starts the workflow. The same request again while its workflow has not opened the
    project (a start that failed) returns the same input, so it can be started again."""
    today = today or _now().date()
    async with db.session() as s:
        existing = await s.get(SetupAssistProject, req.location_id, with_for_update=True)
        if existing is not None and not (
            existing.state == "submitted" and existing.request_hash == request_hash(req)
        ):
            raise RuleError(
                [
                    conflict(
                        "WH-A7",
                        "location_id",
                        "this location already has a project",
                        PROJECT_EXISTS,
                    )
                ]
            )
        inp = await resolve_submission(
            s,
            req,
            scope,
            policy,
            existing.submitted_on if existing else today,
            check_existing=False,
        )
        if existing is None:
            now = _now()
            await s.exec(
                insert(SetupAssistProject)
                .values(
                    id=inp.project_id,
                    location_id=inp.location_id,
                    workflow_id=setup_assist_workflow_id(inp.location_id),
                    partner_org_id=inp.partner_org_id,
                    sub_partner_org_id=inp.sub_partner_org_id,
                    customer_id=inp.customer_id,
                    customer_org_id=inp.customer_org_id,
                    subscription_id=inp.subscription_id,
                    flow=inp.flow,
                    seats=inp.seats,
                    country=inp.country,
                    submitted_on=inp.submitted_on,
                    completion_date=inp.completion_date,
                    requester_email=inp.requester_email,
                    request_hash=request_hash(req),
                    state="submitted",
                    owed_by=[],
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
        return inp


# --- one transaction per state transition -------------------------------------------------------

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "setup_assist_request_copy": {
        "requester": (
            "Your Setup Assist request for location {{ location }}",
            "A copy of your Wholesale Setup Assist request: customer {{ customer }}, location\n"
            "{{ location }} ({{ flow }}, {{ seats }} seats), onboarding completion planned for\n"
            "{{ completion }}.\n",
        )
    },
    "setup_assist_info_reminder": {
        "partner_admin": (
            "Setup Assist: information due today (request {{ number }})",
            "Cisco's Setup Assist team asked on {{ asked_on }} for: {{ topic }}\n"
            "It is due today, {{ due_on }} (two business days, WH-A4). Location {{ location }}.\n",
        )
    },
    "setup_assist_info_escalation": {
        "partner_admin": (
            "Setup Assist: information overdue (request {{ number }})",
            "The information Cisco asked for on {{ asked_on }} was due {{ due_on }} and has not\n"
            "been given: {{ topic }}. The project of location {{ location }} waits for it.\n",
        ),
        "team": (
            "Escalation: partner information overdue at {{ location }} (request {{ number }})",
            "Requested {{ asked_on }}, due {{ due_on }}, not answered: {{ topic }}.\n",
        ),
    },
    "setup_assist_end_of_migration": {
        "partner_admin": (
            "End of migration: location {{ location }}",
            "The migration of location {{ location }} on {{ migration_date }} is complete and\n"
            "post-migration support ended on {{ support_ends_on }} (WH-A6). The operational\n"
            "hand-off follows.\n",
        ),
        "requester": (
            "End of migration: location {{ location }}",
            "The migration of location {{ location }} is complete (support ended\n"
            "{{ support_ends_on }}).\n",
        ),
    },
}

AUDIENCE_TEMPLATE = {"partner_admins": "partner_admin", "team": "team", "requester": "requester"}


def notice_key(project_id: str, kind: str, tag: str, recipient: str) -> str:
    return f"setup-assist:{project_id}:{kind}:{tag}:{recipient}"[:300]


async def _recipients(
    s: AsyncSession, row: SetupAssistProject, audience: str, policy_team: str
) -> list[str]:
    if audience == "partner_admins":
        return await org_emails(s, row.sub_partner_org_id or row.partner_org_id, True)
    if audience == "team":
        return [policy_team]
    if audience == "requester":
        return [row.requester_email] if row.requester_email else []
    raise ValueError(f"unknown audience {audience}")


async def _outbox_rows(
    s: AsyncSession,
    row: SetupAssistProject,
    orders: list[NoticeOrder],
    team_email: str,
    workflow_id: str | None,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    base = {
        "location": row.location_id,
        "customer": row.customer_org_id,
        "flow": row.flow,
        "seats": str(row.seats),
        "completion": row.completion_date.isoformat(),
    }
    for order in orders:
        for audience in order.audiences:
            template = AUDIENCE_TEMPLATE[audience]
            if template not in TEMPLATES[order.kind]:
                continue
            for email in await _recipients(s, row, audience, team_email):
                subject, body = render(order.kind, template, {**base, **order.context}, TEMPLATES)
                out.append(
                    dict(
                        key=notice_key(row.id, order.kind, order.tag, email),
                        kind=order.kind,
                        recipient=email,
                        subject=subject[:300],
                        body=body,
                        due_at=order.due_at,
                        workflow_id=workflow_id,
                    )
                )
    return out


def charge_key(project_id: str) -> str:
    return f"setup_assist:{project_id}"


async def record_charge(s: AsyncSession, charge: ChargeLine) -> bool:
    """WH-A5: the project's line in the partner's billing reconciliation, through billing's
    hook (models/billing/store.py ``add_charge``), once: the project id is its key."""
    return await add_charge(
        s,
        ChargeSpec(
            source_key=charge_key(charge.project_id),
            partner_org_id=charge.partner_org_id,
            sub_partner_org_id=charge.sub_partner_org_id,
            customer_id=charge.customer_id,
            customer_org_id=charge.customer_org_id,
            external_customer_id=charge.external_customer_id,
            subscription_id=charge.subscription_id,
            service_name=charge.service_name,
            sku=charge.sku,
            description=charge.description,
            quantity=Decimal(charge.quantity),
            day=charge.charged_on,
        ),
    )


async def apply_step(
    db: Database, mailer: Mailer, step: Step, workflow_id: str | None
) -> list[NoticeSent]:
    """One state transition in one transaction: the read model, the charge (at opening),
    the outbox rows; then the notices are sent (each exactly once: the key is unique)."""
    st = step.status
    async with db.session() as s:
        row = await s.get(SetupAssistProject, st.project_id, with_for_update=True)
        if row is None:
            raise LookupError(f"no Setup Assist project {st.project_id}")
        if step.charge is not None:
            await record_charge(s, step.charge)
        await s.exec(
            update(SetupAssistProject)
            .where(col(SetupAssistProject.id) == st.project_id)
            .values(
                state=st.state,
                current_phase=st.current_phase,
                owed_by=list(st.owed_by),
                status=st.model_dump(mode="json", exclude={"notices"}),
                next_deadline_at=st.next_deadline_at,
                next_deadline_kind=st.next_deadline_kind,
                updated_at=_now(),
            )
        )
        rows = await _outbox_rows(s, row, step.notices, step.team_email, workflow_id)
        await put_many(s, rows)
    sent = await deliver(db, mailer, [r["key"] for r in rows])
    return [NoticeSent(kind=n.kind, recipient=n.recipient, sent_at=n.sent_at) for n in sent]


# --- reads ----------------------------------------------------------------------------------------


async def get_project(s: AsyncSession, scope: Scope, project_id: str) -> SetupAssistProject | None:
    row = await s.get(SetupAssistProject, project_id)
    if row is None or not scope.sees(row.partner_org_id, row.sub_partner_org_id):
        return None
    return row


async def list_projects(
    s: AsyncSession,
    scope: Scope,
    *,
    customer_org_id: str | None = None,
    state: str | None = None,
    flow: str | None = None,
    offset: int = 0,
    max_: int = 100,
) -> list[SetupAssistProject]:
    q = select(SetupAssistProject).where(SetupAssistProject.partner_org_id == scope.partner_org_id)
    if scope.sub_partner_org_id:
        q = q.where(SetupAssistProject.sub_partner_org_id == scope.sub_partner_org_id)
    if customer_org_id:
        q = q.where(SetupAssistProject.customer_org_id == customer_org_id)
    if state:
        q = q.where(SetupAssistProject.state == state)
    if flow:
        q = q.where(SetupAssistProject.flow == flow)
    q = q.order_by(col(SetupAssistProject.created_at), col(SetupAssistProject.id))
    return list((await s.exec(q.offset(offset).limit(max_))).all())


async def charges(s: AsyncSession, partner_org_id: str) -> list[BillingCharge]:
    """The partner's Setup Assist billing lines (WH-A5)."""
    return list(
        (
            await s.exec(
                select(BillingCharge)
                .where(
                    BillingCharge.partner_org_id == partner_org_id,
                    col(BillingCharge.source_key).startswith("setup_assist:"),
                )
                .order_by(col(BillingCharge.day), col(BillingCharge.source_key))
            )
        ).all()
    )
