"""Activities of the trial lifecycle: each calls one transaction of models/trials/store.py
(where the effects, their idempotence and their refusals are) and returns its result."""

from __future__ import annotations

from temporalio import activity

from activities.common import Activities
from models.common.outbox import NoticeView
from models.trials import store
from models.trials.contract import (
    Conversion,
    EndServices,
    MassNotice,
    NoticeBatch,
    ProvisionPlan,
    StepResult,
    TrialInput,
    TrialStatus,
    TrialStep,
    trial_workflow_id,
)


class TrialActivities(Activities):
    @activity.defn(name="trial_step")
    async def step(self, st: TrialStep) -> StepResult:
        """One step of a trial: its effects, notices and read model in one transaction."""
        return await store.step(self.db, self.mailer, st, activity.info().workflow_id)

    @activity.defn(name="trial_mail_users")
    async def mail_users(self, mass: MassNotice) -> StepResult:
        """TR-E3: a notice to every user of the org, in batches; each batch heartbeats its
        last key, so a retry resumes after it."""
        details = activity.info().heartbeat_details
        resume_after = str(details[0]) if details else ""
        return await store.mail_users(
            self.db,
            self.mailer,
            mass,
            activity.info().workflow_id,
            resume_after=resume_after,
            progress=lambda last, sent: activity.heartbeat(last, sent),
        )

    @activity.defn
    async def open_trial(self, inp: TrialInput) -> None:
        """Write the trial, and for a new customer its org, admin and numbers (TR-S2)."""
        wid = activity.info().workflow_id or trial_workflow_id(inp.trial_id)
        await store.open_trial(self.db, inp, wid)

    @activity.defn
    async def record_trial(self, status: TrialStatus) -> None:
        """Keep the read model (the ``trial`` row) equal to the workflow's state."""
        await store.record_trial(self.db, status)

    @activity.defn
    async def check_full_admin(self, org_id: str, email: str) -> bool:
        """TR-C3: only a full admin of the customer org can accept."""
        return await store.check_full_admin(self.db, org_id, email)

    @activity.defn
    async def check_services_available(self, trial_id: str, services: list[str]) -> None:
        """TR-S6 for services added to a running trial; raises a RuleViolation."""
        await store.check_services_available(self.db, trial_id, services)

    @activity.defn
    async def record_consent(self, trial_id: str, partner_admin_level: str) -> None:
        """TR-C2/TR-C4: the customer becomes *awaiting provisioning details*."""
        await store.record_consent(self.db, trial_id, partner_admin_level)

    @activity.defn
    async def provision_trial(self, plan: ProvisionPlan) -> None:
        """Make the org's trial licenses equal the plan (TR-S3: devices carry none)."""
        await store.provision_trial(self.db, plan)

    @activity.defn
    async def send_notices(self, batch: NoticeBatch) -> list[NoticeView]:
        """Write the batch to the outbox (once per recipient) and send what is unsent."""
        return await store.send_notices(self.db, self.mailer, batch, activity.info().workflow_id)

    @activity.defn
    async def end_trial_services(self, req: EndServices) -> int:
        """Remove the trial's licenses; with calling, stop it and retain the numbers (TR-E5).
        Returns how many numbers are retained."""
        return await store.end_trial_services(self.db, req)

    @activity.defn
    async def migrate_to_free_org(self, trial_id: str) -> str:
        """TR-E4, irreversible: a new free org takes the users."""
        return await store.migrate_to_free_org(self.db, trial_id)

    @activity.defn
    async def release_numbers(self, trial_id: str) -> int:
        """TR-E5: the retained numbers go back to the pool."""
        return await store.release_numbers(self.db, trial_id)

    @activity.defn
    async def convert_trial(self, conv: Conversion) -> None:
        """TR-V1: the trial's licenses become paid; nothing of its usage is deleted."""
        await store.convert_trial(self.db, conv)

    @activity.defn
    async def remove_pending_customer(self, trial_id: str) -> None:
        """TR-C3/TR-C5: a trial that never got consent leaves the partner's customer list."""
        await store.remove_pending_customer(self.db, trial_id)
