"""Activities of the trial lifecycle. Every effect on the store happens here, idempotently:
ids are derived from the trial id and writes are upserts, so a retried activity (or a
worker that dies after the commit) never does a thing twice."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from temporalio import activity

from activities.common import Activities
from models.common.countries import region_of
from models.common.notices import deliver, enqueue
from models.common.refusal import RuleError
from models.common.tables import License, Org, OrgUser, PartnerCustomer, PhoneNumber, Trial
from models.trials.contract import (
    Conversion,
    EndServices,
    NoticeBatch,
    NoticeView,
    ProvisionPlan,
    TrialInput,
    TrialStatus,
    trial_workflow_id,
)
from models.trials.rules import services_conflicts

log = structlog.get_logger(__name__)


# What the read model keeps of the workflow's status: the fields both share.
RECORDED = set(TrialStatus.model_fields) & set(Trial.model_fields)


def _now() -> datetime:
    return datetime.now(UTC)


class TrialActivities(Activities):
    @activity.defn
    async def open_trial(self, inp: TrialInput) -> None:
        """Write the trial, and for a new customer its org, admin and numbers (TR-S2).

        The start rules are checked again in this transaction (TR-S6 races)."""
        now = _now()
        async with self.db.session() as s:
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
                    s.add(PhoneNumber(number=n, org_id=inp.customer_org_id, state="assigned"))
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
                    workflow_id=activity.info().workflow_id or trial_workflow_id(inp.trial_id),
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
        log.info("trial opened", trial_id=inp.trial_id, new_customer=inp.new_customer)

    @activity.defn
    async def record_trial(self, status: TrialStatus) -> None:
        """Keep the read model (the ``trial`` row) equal to the workflow's state."""
        async with self.db.session() as s:
            await s.exec(
                update(Trial)
                .where(col(Trial.id) == status.trial_id)
                .values(**status.model_dump(include=RECORDED), updated_at=_now())
            )

    @activity.defn
    async def check_full_admin(self, org_id: str, email: str) -> bool:
        """TR-C3: only a full admin of the customer org can accept."""
        async with self.db.session() as s:
            user = (await s.exec(select(OrgUser).where(OrgUser.email == email))).first()
            return user is not None and user.org_id == org_id and user.admin_role == "full"

    @activity.defn
    async def check_services_available(self, trial_id: str, services: list[str]) -> None:
        """TR-S6 for services added to a running trial; raises a RuleViolation."""
        async with self.db.session() as s:
            trial = await s.get(Trial, trial_id)
            assert trial is not None
            conflicts = await services_conflicts(
                s,
                trial.customer_org_id,
                services,
                partner_org_id=trial.partner_org_id,
                excluding_trial=trial_id,
            )
        if conflicts:
            raise RuleError(conflicts).to_application_error()

    @activity.defn
    async def record_consent(self, trial_id: str, partner_admin_level: str) -> None:
        """TR-C2/TR-C4: the customer becomes *awaiting provisioning details*."""
        async with self.db.session() as s:
            trial = await s.get(Trial, trial_id)
            assert trial is not None
            await s.exec(
                update(PartnerCustomer)
                .where(
                    col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                    col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                )
                .values(
                    status="awaiting_provisioning_details", partner_admin_level=partner_admin_level
                )
            )

    @activity.defn
    async def provision_trial(self, plan: ProvisionPlan) -> None:
        """Make the org's trial licenses equal the plan (TR-S3: devices carry none)."""
        now = _now()
        async with self.db.session() as s:
            trial = await s.get(Trial, plan.trial_id)
            assert trial is not None
            org = await s.get(Org, trial.customer_org_id)
            assert org is not None
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

    @activity.defn
    async def send_notices(self, batch: NoticeBatch) -> list[NoticeView]:
        """Write the batch to the outbox (once per recipient) and send what is unsent."""
        keys = await enqueue(self.db, batch, activity.info().workflow_id)
        sent = await deliver(self.db, self.mailer, keys)
        log.info("notices sent", kind=batch.kind, count=len(sent))
        return sent

    @activity.defn
    async def end_trial_services(self, req: EndServices) -> None:
        """Remove the trial's licenses; with calling, stop it and retain the numbers (TR-E5)."""
        async with self.db.session() as s:
            trial = await s.get(Trial, req.trial_id)
            assert trial is not None
            await s.exec(
                delete(License).where(
                    col(License.trial_id) == req.trial_id, col(License.source) == "trial"
                )
            )
            if "calling" in trial.services:
                org = await s.get(Org, trial.customer_org_id)
                assert org is not None
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

    @activity.defn
    async def migrate_to_free_org(self, trial_id: str) -> str:
        """TR-E4, irreversible: a new free org takes the users; the trial org loses its
        licenses, site URL, admin roles and calling configuration. Numbers stay retained."""
        free_id = f"free-{trial_id}"
        now = _now()
        async with self.db.session() as s:
            trial = await s.get(Trial, trial_id)
            assert trial is not None
            org = await s.get(Org, trial.customer_org_id)
            assert org is not None
            if await s.get(Org, free_id) is None:
                s.add(
                    Org(
                        id=free_id,
                        kind="free",
                        name=f"{org.name} (free)",
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

    @activity.defn
    async def release_numbers(self, trial_id: str) -> int:
        """TR-E5: the retained numbers go back to the pool."""
        async with self.db.session() as s:
            result = await s.exec(
                update(PhoneNumber)
                .where(col(PhoneNumber.trial_id) == trial_id, col(PhoneNumber.state) == "retained")
                .values(state="released", org_id=None, released_at=_now())
            )
            return result.rowcount or 0

    @activity.defn
    async def convert_trial(self, conv: Conversion) -> None:
        """TR-V1: the trial's licenses become paid; nothing of its usage is deleted."""
        async with self.db.session() as s:
            trial = await s.get(Trial, conv.trial_id)
            assert trial is not None
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

    @activity.defn
    async def remove_pending_customer(self, trial_id: str) -> None:
        """TR-C3/TR-C5: a trial that never got consent leaves the partner's customer list."""
        async with self.db.session() as s:
            trial = await s.get(Trial, trial_id)
            assert trial is not None
            await s.exec(
                delete(PartnerCustomer).where(
                    col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
                    col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
                    col(PartnerCustomer.status) != "active",
                )
            )
