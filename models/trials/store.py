"""The trial's transactions, called by the starter, the CLI and the activities.

Every effect is idempotent: ids are derived from the trial id and writes are upserts, so a
retried activity (or a worker that dies after the commit) never does a thing twice. A row
that should be there and is not, or a value the store cannot hold, raises a non-retryable
``ApplicationError`` (models/common/failures.py): retrying would hold the workflow for ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.countries import region_of
from models.common.db import Database
from models.common.failures import not_found, unhealable
from models.common.mail import Mailer
from models.common.outbox import NoticeView, deliver
from models.common.refusal import RuleError
from models.common.tables import License, Org, OrgUser, PartnerCustomer, PhoneNumber
from models.trials import notices
from models.trials.contract import (
    Conversion,
    EndServices,
    NoticeBatch,
    ProvisionPlan,
    TrialInput,
    TrialPolicy,
    TrialRequest,
    TrialStatus,
)
from models.trials.rules import numbers_conflicts, resolve_trial, services_conflicts
from models.trials.tables import Trial

log = structlog.get_logger(__name__)

# What the read model keeps of the workflow's status: the fields both share.
RECORDED = set(TrialStatus.model_fields) & set(Trial.model_fields)


def _now() -> datetime:
    return datetime.now(UTC)


async def start_checks(
    db: Database, req: TrialRequest, trial_id: str, policy: TrialPolicy
) -> TrialInput:
    """The starter's view of the start rules (nothing is written)."""
    async with db.session() as s:
        return await resolve_trial(s, req, policy, trial_id)


async def _trial(s: AsyncSession, trial_id: str) -> Trial:
    trial = await s.get(Trial, trial_id)
    if trial is None:
        raise not_found("trial", trial_id)
    return trial


async def _org(s: AsyncSession, org_id: str) -> Org:
    org = await s.get(Org, org_id)
    if org is None:
        raise not_found("org", org_id)
    return org


async def open_trial(db: Database, inp: TrialInput, workflow_id: str) -> None:
    """Write the trial, and for a new customer its org, admin and numbers (TR-S2).

    The start rules that a race could break are checked again in this transaction (TR-S6;
    TR-E5: a number another org holds)."""
    try:
        with unhealable("open_trial", inp.trial_id):
            async with db.session() as s:
                await _open_trial(s, inp, workflow_id)
    except Exception:
        # Two attempts at once (a retry after a timeout): the one that committed wins.
        async with db.session() as s:
            if await s.get(Trial, inp.trial_id) is not None:
                return
        raise
    log.info("trial opened", trial_id=inp.trial_id, new_customer=inp.new_customer)


async def _open_trial(s: AsyncSession, inp: TrialInput, workflow_id: str) -> None:
    now = _now()
    if await s.get(Trial, inp.trial_id) is not None:
        return  # a retry after the commit
    if not inp.new_customer:
        conflicts = await services_conflicts(
            s, inp.customer_org_id, inp.services, partner_org_id=inp.partner_org_id
        )
        if conflicts:
            raise RuleError(conflicts).to_application_error()
    if inp.new_customer and inp.customer is not None:
        c = inp.customer
        if conflicts := await numbers_conflicts(s, c.numbers):
            raise RuleError(conflicts).to_application_error()
        s.add(
            Org(
                id=inp.customer_org_id,
                kind="customer",
                name=c.company_name or "",
                country=c.country,
                region=region_of(c.country or ""),
                vertical=c.vertical,
                created_at=now,
            )
        )
        await s.flush()
        s.add(
            OrgUser(
                id=f"u-{inp.trial_id}",
                org_id=inp.customer_org_id,
                email=c.admin_email or "",
                admin_role="full",
                created_at=now,
            )
        )
        for n in c.numbers:
            existing = await s.get(PhoneNumber, n)
            if existing is None:
                s.add(PhoneNumber(number=n, org_id=inp.customer_org_id, state="assigned"))
            else:  # a released number is back in the pool (numbers_conflicts checked)
                existing.org_id, existing.state, existing.trial_id = (
                    inp.customer_org_id,
                    "assigned",
                    None,
                )
                existing.released_at = existing.retained_until = None
                s.add(existing)
    # TR-C2: a customer asked for consent is *pending customer trial approval*.
    status = "pending_customer_trial_approval" if inp.needs_consent else "active"
    await s.exec(
        insert(PartnerCustomer)
        .values(
            partner_org_id=inp.partner_org_id,
            customer_org_id=inp.customer_org_id,
            status=status,
            since=now,
        )
        .on_conflict_do_nothing()
    )
    s.add(
        Trial(
            id=inp.trial_id,
            workflow_id=workflow_id,
            partner_org_id=inp.partner_org_id,
            customer_org_id=inp.customer_org_id,
            started_by=inp.started_by,
            customer_admin_email=inp.customer_admin_email,
            new_customer=inp.new_customer,
            services=list(inp.services),
            license_count=inp.license_count,
            days=inp.days,
            state="pending_consent" if inp.needs_consent else "awaiting_provisioning",
            created_at=now,
            updated_at=now,
        )
    )


async def record_trial(db: Database, status: TrialStatus) -> None:
    """Keep the read model (the ``trial`` row) equal to the workflow's state."""
    with unhealable("record_trial", status.trial_id):
        async with db.session() as s:
            await s.exec(
                update(Trial)
                .where(col(Trial.id) == status.trial_id)
                .values(**status.model_dump(include=RECORDED), updated_at=_now())
            )


async def check_full_admin(db: Database, org_id: str, email: str) -> bool:
    """TR-C3: only a full admin of the customer org can accept."""
    async with db.session() as s:
        user = (await s.exec(select(OrgUser).where(OrgUser.email == email))).first()
        return user is not None and user.org_id == org_id and user.admin_role == "full"


async def check_services_available(db: Database, trial_id: str, services: Sequence[str]) -> None:
    """TR-S6 for services added to a running trial; raises a RuleViolation."""
    async with db.session() as s:
        trial = await _trial(s, trial_id)
        conflicts = await services_conflicts(
            s,
            trial.customer_org_id,
            services,
            partner_org_id=trial.partner_org_id,
            excluding_trial=trial_id,
        )
    if conflicts:
        raise RuleError(conflicts).to_application_error()


async def record_consent(db: Database, trial_id: str, partner_admin_level: str) -> None:
    """TR-C2/TR-C4: the customer becomes *awaiting provisioning details*."""
    with unhealable("record_consent", trial_id):
        async with db.session() as s:
            trial = await _trial(s, trial_id)
            await s.exec(
                update(PartnerCustomer)
                .where(
                    col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                    col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                )
                .values(
                    status="awaiting_provisioning_details",
                    partner_admin_level=partner_admin_level,
                )
            )


async def provision_trial(db: Database, plan: ProvisionPlan) -> None:
    """Make the org's trial licenses equal the plan (TR-S3: devices carry none)."""
    now = _now()
    with unhealable("provision_trial", plan.trial_id):
        async with db.session() as s:
            trial = await _trial(s, plan.trial_id)
            org = await _org(s, trial.customer_org_id)
            licensed = [svc for svc in plan.services if svc != "devices"]
            await s.exec(
                delete(License).where(
                    col(License.trial_id) == plan.trial_id,
                    col(License.source) == "trial",
                    col(License.service).not_in(licensed),
                )
            )
            for svc in licensed:
                await s.exec(
                    insert(License)
                    .values(
                        org_id=org.id,
                        service=svc,
                        quantity=plan.license_count,
                        source="trial",
                        trial_id=plan.trial_id,
                        created_at=now,
                    )
                    .on_conflict_do_update(
                        index_elements=["org_id", "service", "source", "trial_id"],
                        set_={"quantity": plan.license_count},
                    )
                )
            if "meetings" in plan.services:
                org.site_url = plan.site_url or org.site_url
                org.timezone = plan.timezone or org.timezone
            if "calling" in plan.services:
                org.calling_enabled = True
            s.add(org)
            await s.exec(
                update(PartnerCustomer)
                .where(
                    col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                    col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                    col(PartnerCustomer.status) != "active",
                )
                .values(status="active")
            )


async def send_notices(
    db: Database, mailer: Mailer, batch: NoticeBatch, workflow_id: str | None
) -> list[NoticeView]:
    """Write the batch to the outbox (once per recipient) and send what is unsent."""
    with unhealable("send_notices", batch.trial_id):
        keys = await notices.enqueue(db, batch, workflow_id)
    sent = await deliver(db, mailer, keys)
    log.info("notices sent", kind=batch.kind, count=len(sent))
    return sent


async def end_trial_services(db: Database, req: EndServices) -> int:
    """Remove the trial's licenses; with calling, stop it and retain the numbers (TR-E5).

    Returns how many numbers are retained: with none, there is nothing to release later."""
    with unhealable("end_trial_services", req.trial_id):
        async with db.session() as s:
            trial = await _trial(s, req.trial_id)
            await s.exec(
                delete(License).where(
                    col(License.trial_id) == req.trial_id, col(License.source) == "trial"
                )
            )
            if "calling" not in trial.services:
                return 0
            org = await _org(s, trial.customer_org_id)
            org.calling_enabled = False
            s.add(org)
            await s.exec(
                update(PhoneNumber)
                .where(
                    col(PhoneNumber.org_id) == trial.customer_org_id,
                    col(PhoneNumber.state) == "assigned",
                )
                .values(
                    state="retained",
                    trial_id=req.trial_id,
                    retained_until=req.numbers_release_at,
                )
            )
            # Counted after the update, so a retry after the commit gives the same answer.
            retained = (
                await s.exec(
                    select(PhoneNumber.number).where(
                        PhoneNumber.trial_id == req.trial_id, PhoneNumber.state == "retained"
                    )
                )
            ).all()
            return len(retained)


async def migrate_to_free_org(db: Database, trial_id: str) -> str:
    """TR-E4, irreversible: a new free org takes the users; the trial org loses its
    licenses, site URL, admin roles and calling configuration. Numbers stay retained."""
    free_id = f"free-{trial_id}"
    now = _now()
    with unhealable("migrate_to_free_org", trial_id):
        async with db.session() as s:
            trial = await _trial(s, trial_id)
            org = await _org(s, trial.customer_org_id)
            if await s.get(Org, free_id) is None:
                s.add(
                    Org(
                        id=free_id,
                        kind="free",
                        name=f"{org.name} (free)"[:200],
                        country=org.country,
                        region=org.region,
                        created_at=now,
                    )
                )
                await s.flush()
            await s.exec(
                update(OrgUser)
                .where(col(OrgUser.org_id) == org.id)
                .values(org_id=free_id, admin_role=None)
            )
            await s.exec(delete(License).where(col(License.org_id) == org.id))
            org.site_url = None
            org.timezone = None
            org.calling_enabled = False
            s.add(org)
    log.info("users moved to free org", trial_id=trial_id, free_org_id=free_id)
    return free_id


async def release_numbers(db: Database, trial_id: str) -> int:
    """TR-E5: the retained numbers go back to the pool."""
    async with db.session() as s:
        result = await s.exec(
            update(PhoneNumber)
            .where(col(PhoneNumber.trial_id) == trial_id, col(PhoneNumber.state) == "retained")
            .values(state="released", org_id=None, released_at=_now())
        )
        return result.rowcount or 0


async def convert_trial(db: Database, conv: Conversion) -> None:
    """TR-V1: the trial's licenses become paid; nothing of its usage is deleted."""
    with unhealable("convert_trial", conv.trial_id):
        async with db.session() as s:
            trial = await _trial(s, conv.trial_id)
            await s.exec(
                update(License)
                .where(col(License.trial_id) == conv.trial_id, col(License.source) == "trial")
                .values(source="paid")
            )
            await s.exec(
                update(PartnerCustomer)
                .where(
                    col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                    col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                )
                .values(status="active")
            )


async def remove_pending_customer(db: Database, trial_id: str) -> None:
    """TR-C3/TR-C5: a trial that never got consent leaves the partner's customer list."""
    async with db.session() as s:
        trial = await _trial(s, trial_id)
        await s.exec(
            delete(PartnerCustomer).where(
                col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                col(PartnerCustomer.status) != "active",
            )
        )
