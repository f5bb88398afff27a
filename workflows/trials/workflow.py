"""TrialLifecycle: one workflow per enterprise trial, from consent to released numbers.

Deterministic code only. Deadlines are data (``consent_deadline_at``, ``ends_at``,
``grace_ends_at``, ``numbers_release_at``): the main loop always waits for the earliest
pending deadline *or* a change, so an extension or a conversion re-plans every timer.
Signals are queued and handled by the main loop; updates run under the same lock, so a
deadline and a command never interleave half-way.

Since patch ``trial-one-activity-per-step`` a trial costs what its deadlines cost: one
activity (``trial_step``) opens it and one acts at each deadline or command, writing the
effects, the notices' outbox rows and the read model's *changed* fields in one transaction;
TR-E3's mail to every user is one activity that sends in batches and heartbeats. Search
attributes change only when the state (or the deadline that ends it) changes. Updates wait
until the trial is opened. Trials started before the patch keep their path.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from models.devices.contract import (
        DeviceActivity,
        DeviceTrialInput,
        TrialCancelled,
        TrialConverted,
        device_workflow_id,
    )
    from models.trials.contract import (
        ENDED_STATES,
        AcceptConsent,
        CancelRequest,
        ChangeServicesRequest,
        ConsentGrant,
        Conversion,
        ConvertRequest,
        EndServices,
        ExtendRequest,
        MassNotice,
        NoticeBatch,
        NoticeView,
        ProvisionPlan,
        ProvisionRequest,
        ResendConsent,
        StepResult,
        TrialActivity,
        TrialInput,
        TrialState,
        TrialStatus,
        TrialStep,
        UpdateResult,
        no_release,
    )
from workflows import search_attributes as sa
from workflows.common import (
    Deadline,
    Inbox,
    Lifecycle,
    StepFailed,
    act,
    parse,
    passed_on,
    refuse,
)
from workflows.devices.workflow import DeviceTrial

# workflow.patched ids: each marks a change to running lifecycles (see tests/test_replay.py).
DEVICE_POLICY_IN_INPUT = "device-policy-in-trial-input"
ONE_STEP = "trial-one-activity-per-step"

# TR-E3 mails every user of the org: batches that heartbeat, as long as a big org needs.
MAIL_USERS_TIMEOUT = timedelta(hours=2)
MAIL_USERS_HEARTBEAT = timedelta(minutes=5)  # a batch of 200 over a slow relay fits

DEADLINE_LABELS = {
    "open": "open the trial (TR-S2)",
    "consent_expires": "consent window closes (TR-C3)",
    "expiry_t_minus_7": "T-7 expiry notice (TR-E1)",
    "trial_expires": "trial expires, grace begins (TR-E1, TR-E2)",
    "services_ended_notice": "user notice: services ended (TR-E3)",
    "grace_ends": "grace ends: move users to a free org (TR-E4)",
    "numbers_release": "retained phone numbers released (TR-E5)",
}


@workflow.defn(name="TrialLifecycle")
class TrialLifecycle(Lifecycle):
    @workflow.init
    def __init__(self, inp: TrialInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        self.state: TrialState = "pending_consent" if inp.needs_consent else "awaiting_provisioning"
        self.services = list(inp.services)
        self.license_count = inp.license_count
        self.site_url = inp.site_url
        self.timezone = inp.timezone
        self.partner_admin_level: str | None = None if inp.needs_consent else "full_admin"
        self.consent_deadline_at: datetime | None = None
        self.activated_at: datetime | None = None
        self.ends_at: datetime | None = None
        self.grace_ends_at: datetime | None = None
        self.numbers_release_at: datetime | None = None
        self.numbers_released_at: datetime | None = None
        self.converted_at: datetime | None = None
        self.order_id: str | None = None
        self.cancelled_at: datetime | None = None
        self.cancelled_by: str | None = None
        self.free_org_id: str | None = None
        self.sent: set[str] = set()  # notice kinds already sent (never again)
        self.notices: dict[str, NoticeView] = {}
        self.consent_round = 0
        self.inbox: Inbox[AcceptConsent | ResendConsent | CancelRequest] = Inbox()
        self._lock = asyncio.Lock()
        self._end_set_at: datetime | None = None
        self._started_at = workflow.now()
        self.devices_workflow_id: str | None = None  # the DeviceTrial child, once started
        self.cancel_reason: str | None = None
        # Patch ONE_STEP, decided here so that handlers running before `run` see it too.
        self.v2 = workflow.patched(ONE_STEP)
        self.opened = False  # the first step wrote the trial; handlers wait for it
        self._row: dict[str, Any] = {}  # the read model as last written (v2)
        self._row_tried: dict[str, Any] = {}  # the last one a record-only step tried
        if self.v2:  # what opening the trial writes (models/trials/store.py, _open_trial)
            self._row = {
                **self._row_now(),
                "partner_admin_level": None,
                "next_deadline_at": None,
                "next_deadline_kind": None,
            }
            self._published = self._started_with()

    # --- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: TrialInput) -> TrialStatus:
        if self.v2:
            return await self._run_v2()
        await act(TrialActivity.open_trial, inp, summary="open trial")
        self.opened = True
        async with self._lock:
            if self.state == "pending_consent":
                self.consent_deadline_at = workflow.now() + self.policy.days(
                    self.policy.consent_days
                )
                await self._notify("consent_request", deadline=self.consent_deadline_at)
            elif not inp.new_customer:
                await self._notify("trial_started")  # TR-S7
            if self.state == "awaiting_provisioning" and inp.setup == "now":
                await self._provision()  # TR-S5: set up now by the partner

        while not self._finished():
            deadline = self._next_deadline()
            await self._publish(deadline)
            await self.turn(deadline, DEADLINE_LABELS)

        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._publish(None)
        return self.status()

    def _finished(self) -> bool:
        if self.state not in ENDED_STATES:
            return False
        return self.numbers_release_at is None or self.numbers_released_at is not None

    def _next_deadline(self) -> Deadline | None:
        p = self.policy
        if self.v2 and not self.opened:
            return Deadline("open", self._started_at)
        if self.state == "pending_consent" and self.consent_deadline_at:
            return Deadline("consent_expires", self.consent_deadline_at)
        if self.state == "active" and self.ends_at:
            t7 = self.ends_at - p.days(p.expiry_notice_days)
            candidates = []
            if "expiry_t_minus_7" not in self.sent and not self._t7_passed(t7):
                candidates.append(Deadline("expiry_t_minus_7", t7))
            candidates.append(Deadline("trial_expires", self.ends_at))
            return min(candidates, key=lambda d: d.at)
        if self.state == "grace" and self.ends_at and self.grace_ends_at:
            if "services_ended" not in self.sent:  # due by grace end: see TrialPolicy
                return Deadline("services_ended_notice", self.ends_at + p.days(p.user_notice_days))
            return Deadline("grace_ends", self.grace_ends_at)
        if self.numbers_release_at and not self.numbers_released_at:
            return Deadline("numbers_release", self.numbers_release_at)
        return None

    def _t7_passed(self, t7: datetime) -> bool:
        """A T-7 moment already behind the point the end was last set is not sent (a trial
        shorter than the notice window, or extended to end sooner than it)."""
        return t7 < (self._end_set_at or t7)

    def _set_end(self, ends_at: datetime) -> None:
        self.ends_at = ends_at
        self._end_set_at = workflow.now()

    async def _on_deadline(self, d: Deadline) -> None:
        p = self.policy
        workflow.logger.info("deadline reached: %s", d.kind)
        if self.v2:
            return await self._on_deadline_v2(d)
        if d.kind == "consent_expires":  # TR-C3
            await act(
                TrialActivity.remove_pending_customer,
                self.inp.trial_id,
                summary="remove customer from partner list",
            )
            await self._notify("consent_expired", due=d.at, consent_days=str(p.consent_days))
            self.state = "consent_expired"
        elif d.kind == "expiry_t_minus_7":  # TR-E1
            await self._notify("expiry_t_minus_7", due=d.at, **self._expiry_context(d.at))
        elif d.kind == "trial_expires":  # TR-E1 then TR-E2
            await self._notify("expiry_today", due=d.at, **self._expiry_context(d.at))
            assert self.ends_at is not None
            self.grace_ends_at = self.ends_at + p.days(p.grace_days)
            self.state = "grace"
        elif d.kind == "services_ended_notice":  # TR-E3
            await self._notify("services_ended", due=d.at, days_after=str(p.user_notice_days))
        elif d.kind == "grace_ends":  # TR-E4, TR-E5
            await self._end_services(d.at)
            if self.inp.paying_customer:
                self.state = "expired"  # a paying org keeps its users; trial licenses go
            else:
                self.free_org_id = await act(
                    TrialActivity.migrate_to_free_org,
                    self.inp.trial_id,
                    summary="move users to a free org (irreversible)",
                )
                self.state = "migrated_to_free_org"
        elif d.kind == "numbers_release":  # TR-E5
            await act(
                TrialActivity.release_numbers,
                self.inp.trial_id,
                summary="release retained phone numbers",
            )
            self.numbers_released_at = workflow.now()

    def _expiry_context(self, due: datetime) -> dict[str, Any]:
        assert self.ends_at is not None
        left = (self.ends_at - due).total_seconds() / self.policy.day_seconds
        return {
            "days_left": str(max(0, round(left))),
            "ends_at": self.ends_at.strftime("%Y-%m-%d"),
            "buy_url": self.policy.buy_url,
            "grace_days": str(self.policy.grace_days),
        }

    async def _end_services(self, at: datetime) -> None:
        """Trial licenses removed; with calling, calling stops and numbers are retained."""
        release_at = None
        if "calling" in self.services:
            release_at = at + self.policy.days(self.policy.number_retention_days)
        retained = await act(
            TrialActivity.end_trial_services,
            EndServices(trial_id=self.inp.trial_id, at=at, numbers_release_at=release_at),
            summary="remove trial licenses, stop calling, retain numbers",
        )
        # No number retained, nothing to release (issue 9, 11); histories recorded before the
        # activity said how many (None) keep waiting, as they did.
        self.numbers_release_at = release_at if retained is None or retained > 0 else None

    async def _provision(self) -> None:
        await act(TrialActivity.provision_trial, self._plan(), summary="provision trial")
        self.activated_at = workflow.now()
        self._set_end(self.activated_at + self.policy.days(self.inp.days))
        self.state = "active"
        await self._notify("welcome", ends_at=self.ends_at)  # TR-S5
        if "devices" in self.services:
            await self._devices_child_start()  # devices: their own lifecycle (TR-S4, DV)

    def _plan(self) -> ProvisionPlan:
        return ProvisionPlan(
            trial_id=self.inp.trial_id,
            services=list(self.services),
            license_count=self.license_count,
            site_url=self.site_url,
            timezone=self.timezone,
        )

    # --- signals (queued; the main loop handles them under the lock) ---------------------

    @workflow.signal
    def accept_consent(self, *args: Any) -> None:
        """Kept for callers that signal; the update ``give_consent`` answers with a refusal."""
        self.inbox.receive("accept_consent", AcceptConsent, args, "TR-C3")

    @workflow.signal
    def resend_consent(self, *args: Any) -> None:
        self.inbox.receive("resend_consent", ResendConsent, args, "TR-C5")

    @workflow.signal
    def cancel(self, *args: Any) -> None:
        self.inbox.receive("cancel", CancelRequest, args, "TR-D4")

    async def _handle_signals(self) -> None:
        if self.v2 and not self.opened:
            return  # kept queued until the trial is opened
        while (sig := self.inbox.take()) is not None:
            if isinstance(sig, CancelRequest):
                await self._cancel(sig)
            elif self.state != "pending_consent":
                workflow.logger.warning("ignored %s: trial is %s", type(sig).__name__, self.state)
            elif isinstance(sig, ResendConsent):  # TR-C5: the clock does not restart
                if self.v2:
                    await self._resend_v2()
                    continue
                self.consent_round += 1
                await self._notify(
                    "consent_request", round_=self.consent_round, deadline=self.consent_deadline_at
                )
            elif isinstance(sig, AcceptConsent):
                await self._accept(sig)

    @workflow.update
    async def give_consent(self, *args: Any) -> UpdateResult:
        """TR-C1..C4 as an update: the caller hears a refusal (not a full admin, not pending,
        the window closed) instead of a signal silently ignored."""
        await self._until_opened()
        async with self._lock:
            self._validate_give_consent(*args)
            sig = parse(AcceptConsent, args, "TR-C3")
            if not await self._accept(sig):
                raise refuse("TR-C3", "accepted_by", "only a full admin of the org can accept")
            self.inbox.changed = True
            return self._result(f"consent given: partner is {self.partner_admin_level}")

    @give_consent.validator
    def _validate_give_consent(self, *args: Any) -> None:
        parse(AcceptConsent, args, "TR-C3")
        if self.state != "pending_consent":
            raise refuse("TR-C2", "state", f"the trial is {self.state}, not pending consent")
        if self.consent_deadline_at and workflow.now() >= self.consent_deadline_at:
            raise refuse("TR-C3", "state", "the consent window has closed")

    async def _accept(self, sig: AcceptConsent) -> bool:
        if self.v2:
            return await self._accept_v2(sig)
        is_full_admin = await act(
            TrialActivity.check_full_admin,
            self.inp.customer_org_id,
            sig.accepted_by,
            summary="is the acceptor a full admin?",
        )
        if not is_full_admin:  # TR-C3: only a full admin can accept
            self.inbox.reject("accept_consent", "TR-C3 (accepted_by): not a full admin of the org")
            return False
        # TR-C4: full admin, or provisioning admin only
        self.partner_admin_level = "full_admin" if sig.grant_full_admin else "provisioning_admin"
        await act(
            TrialActivity.record_consent,
            self.inp.trial_id,
            self.partner_admin_level,
            summary="customer accepted: awaiting provisioning details",
        )
        self.state = "awaiting_provisioning"  # TR-C2
        if self.inp.setup == "now":
            await self._provision()
        return True

    async def _cancel(self, req: CancelRequest) -> None:
        """TR-D4 (and TR-C5 while pending). The effects first, then the new state."""
        if self.state in ENDED_STATES:
            workflow.logger.warning("ignored cancel: trial is %s", self.state)
            return
        if self.v2:
            return await self._cancel_v2(req)
        at = workflow.now()
        if self.state == "pending_consent":
            await act(
                TrialActivity.remove_pending_customer,
                self.inp.trial_id,
                summary="remove customer from partner list",
            )
        elif self.state in ("active", "grace"):
            await self._end_services(at)
        self.state = "cancelled"
        self.cancelled_at = at
        self.cancelled_by = req.by
        # Devices: returns now due two weeks after the cancellation (DV-1).
        await self._devices_signal(
            "trial_cancelled", TrialCancelled(at=at, trial_run_id=workflow.info().run_id)
        )

    # --- updates (validated; the caller gets an answer or a refusal) ---------------------

    @workflow.update
    async def provision(self, *args: Any) -> UpdateResult:
        await self._until_opened()
        async with self._lock:
            self._validate_provision(*args)
            if self.v2:
                await self._provision_v2()
            else:
                await self._provision()
            self.inbox.changed = True
            return self._result("provisioned")

    @provision.validator
    def _validate_provision(self, *args: Any) -> None:
        parse(ProvisionRequest, args, "TR-S5")
        if self.state != "awaiting_provisioning":
            raise refuse("TR-S5", "state", f"trial is {self.state}, not awaiting provisioning")

    @workflow.update
    async def extend(self, *args: Any) -> UpdateResult:
        await self._until_opened()
        async with self._lock:
            self._validate_extend(*args)
            req = parse(ExtendRequest, args, "TR-D1")
            new_end = workflow.now() + self.policy.days(req.days)  # TR-D1: today + days
            if self.v2:
                await self._step(
                    f"extend the trial to {new_end:%Y-%m-%d}",
                    {"ends_at": new_end, "_end_set_at": workflow.now()},
                )
            else:
                self._set_end(new_end)
            self.inbox.changed = True
            return self._result(f"trial now ends {self.ends_at:%Y-%m-%d %H:%M} UTC")

    @extend.validator
    def _validate_extend(self, *args: Any) -> None:
        req = parse(ExtendRequest, args, "TR-D1")
        if self.state == "grace":
            raise refuse("TR-E2", "state", "an expired trial can only be converted")
        if self.state != "active" or self.ends_at is None:
            raise refuse("TR-D1", "state", f"only an active trial is extended; it is {self.state}")
        if workflow.now() >= self.ends_at:  # the state lags while the worker was away
            raise refuse("TR-E2", "state", "the trial has ended; an expired trial can only convert")
        if req.days > self.policy.max_days:
            raise refuse("TR-D1", "days", f"at most {self.policy.max_days} days")
        new_end = workflow.now() + self.policy.days(req.days)
        if new_end < self.ends_at and not req.force:
            left = (self.ends_at - workflow.now()).total_seconds() / self.policy.day_seconds
            raise refuse(
                "TR-D1",
                "days",
                f"{req.days} days from today would shorten the trial ({left:.0f} days left); "
                "send force=true to shorten it",
            )

    @workflow.update
    async def change_services(self, *args: Any) -> UpdateResult:
        await self._until_opened()
        async with self._lock:
            self._validate_change_services(*args)
            req = parse(ChangeServicesRequest, args, "TR-D3")
            if self.v2:
                await self._change_services_v2(req)
            else:
                await self._change_services_v1(req)
            self.inbox.changed = True
            return self._result(f"services: {', '.join(self.services)} x {self.license_count}")

    async def _change_services_v1(self, req: ChangeServicesRequest) -> None:
        if req.add:
            try:
                await act(
                    TrialActivity.check_services_available,
                    self.inp.trial_id,
                    list(req.add),
                    summary="TR-S6: may these services be trialled?",
                )
            except ActivityError as err:
                raise passed_on(err) from None
        self.services = self._services_after(req)
        self.license_count = req.license_count or self.license_count
        self.site_url = req.site_url or self.site_url
        self.timezone = req.timezone or self.timezone
        if self.state == "active":
            await act(TrialActivity.provision_trial, self._plan(), summary="apply service change")
            if "devices" in self.services:
                await self._devices_child_start()  # devices added to an active trial

    def _services_after(self, req: ChangeServicesRequest) -> list[Any]:
        return [s for s in self.services if s not in req.remove] + [
            s for s in req.add if s not in self.services
        ]

    @change_services.validator
    def _validate_change_services(self, *args: Any) -> None:
        req = parse(ChangeServicesRequest, args, "TR-D3")
        if self.state not in ("pending_consent", "awaiting_provisioning", "active"):
            raise refuse("TR-D3", "state", f"services of a {self.state} trial cannot change")
        now = workflow.now()  # the state lags while a step is retried or the worker away
        if self.state == "active" and self.ends_at and now >= self.ends_at:
            raise refuse("TR-E2", "state", "the trial has ended; an expired trial can only convert")
        if self.state == "pending_consent" and self.consent_deadline_at:
            if now >= self.consent_deadline_at:
                raise refuse("TR-C3", "state", "the consent window has closed")
        if not (req.add or req.remove or req.license_count):
            raise refuse("TR-D3", "add", "nothing to change")
        if dup := set(req.add) & set(self.services):
            raise refuse("TR-D3", "add", f"already in the trial: {', '.join(sorted(dup))}")
        if missing := set(req.remove) - set(self.services):
            raise refuse("TR-D3", "remove", f"not in the trial: {', '.join(sorted(missing))}")
        if not (set(self.services) - set(req.remove)) | set(req.add):
            raise refuse("TR-D3", "remove", "a trial keeps at least one service")
        if "meetings" in req.add and not (
            (req.site_url or self.site_url) and (req.timezone or self.timezone)
        ):
            raise refuse("TR-S2", "site_url", "meetings needs a site URL and a time zone")

    @workflow.update
    async def convert(self, *args: Any) -> UpdateResult:
        await self._until_opened()
        async with self._lock:
            self._validate_convert(*args)
            req = parse(ConvertRequest, args, "TR-V1")
            now = workflow.now()
            conv = Conversion(trial_id=self.inp.trial_id, order_id=req.order_id, at=now)
            summary = f"convert to paid (order {req.order_id})"
            if self.v2:
                changes = {"state": "converted", "converted_at": now, "order_id": req.order_id}
                await self._step(summary, changes, convert=conv)
            else:
                await act(TrialActivity.convert_trial, conv, summary=summary)
                self.state = "converted"
                self.converted_at = now
                self.order_id = req.order_id
            await self._devices_signal(  # TR-V4: still owed
                "trial_converted", TrialConverted(trial_run_id=workflow.info().run_id)
            )
            self.inbox.changed = True
            return self._result("converted to paid; trial usage data kept (TR-V1)")

    @convert.validator
    def _validate_convert(self, *args: Any) -> None:
        req = parse(ConvertRequest, args, "TR-V1")
        if self.state not in ("active", "grace"):
            raise refuse(
                "TR-E2",
                "state",
                f"only an active trial or one in grace can convert; it is {self.state}",
            )
        grace_ends = self.grace_ends_at or (
            self.ends_at + self.policy.days(self.policy.grace_days) if self.ends_at else None
        )
        if grace_ends is not None and workflow.now() >= grace_ends:  # state may lag: see TR-E4
            raise refuse("TR-E2", "state", "grace has ended; the trial can no longer convert")
        if self.inp.partner_tier == 2 and not req.through_distributor:
            raise refuse(
                "TR-V2",
                "through_distributor",
                "a tier-2 partner converts through its distributor",
            )
        wanted = self.inp.customer_admin_email.strip().lower()
        if req.provisioning_contact_email.strip().lower() != wanted and not req.confirm_new_org:
            raise refuse(
                "TR-V3",
                "provisioning_contact_email",
                "must be the trial's customer admin email, or a different email would "
                "create a new org; send confirm_new_org=true to proceed anyway",
            )

    def _result(self, message: str) -> UpdateResult:
        return UpdateResult(state=self.state, ends_at=self.ends_at, message=message)

    # --- query --------------------------------------------------------------------------

    @workflow.query
    def status(self) -> TrialStatus:
        d = self._next_deadline() if not self._finished() else None
        return TrialStatus(
            trial_id=self.inp.trial_id,
            state=self.state,
            partner_org_id=self.inp.partner_org_id,
            customer_org_id=self.inp.customer_org_id,
            services=list(self.services),
            license_count=self.license_count,
            days=self.inp.days,
            partner_admin_level=self.partner_admin_level,
            consent_deadline_at=self.consent_deadline_at,
            activated_at=self.activated_at,
            ends_at=self.ends_at,
            grace_ends_at=self.grace_ends_at,
            numbers_release_at=self.numbers_release_at,
            numbers_released_at=self.numbers_released_at,
            converted_at=self.converted_at,
            order_id=self.order_id,
            cancelled_at=self.cancelled_at,
            cancelled_by=self.cancelled_by,
            free_org_id=self.free_org_id,
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            waiting_for=self._waiting_for(d),
            notices=list(self.notices.values()),
            rejected=list(self.inbox.rejected),
            failure=self.failure,
        )

    def _waiting_for(self, d: Deadline | None) -> str:
        if self.state == "awaiting_provisioning":
            return "provisioning (update `provision`), or cancel"
        if d is None:
            return "nothing: finished"
        when = f"{DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC"
        if self.state == "pending_consent":
            return f"a full admin's consent (signal `accept_consent`), else {when}"
        if self.state == "active":
            return f"{when}; or extend / change_services / convert / cancel"
        if self.state == "grace":
            return f"{when}; or convert (grace, TR-E2)"
        return when

    # --- the DeviceTrial child (workflows/devices.py) ------------------------------------

    async def _devices_child_start(self) -> None:
        """Start ``devices-<trial_id>`` once. ABANDON: returns stay owed after the trial ends
        (TR-V4); its policy is snapshotted now, with this trial's day length."""
        if self.devices_workflow_id is not None:
            return
        wid = device_workflow_id(self.inp.trial_id)
        if workflow.patched(DEVICE_POLICY_IN_INPUT):
            policy = self.policy.devices  # snapshotted with the rest when the trial started
        else:  # trials started before the patch read it from settings at this point
            policy = await act(
                DeviceActivity.device_policy,
                self.policy.day_seconds,
                summary="snapshot the device policy",
            )
        try:
            await workflow.start_child_workflow(
                DeviceTrial.run,
                DeviceTrialInput(
                    trial_id=self.inp.trial_id,
                    partner_org_id=self.inp.partner_org_id,
                    customer_org_id=self.inp.customer_org_id,
                    trial_days=self.inp.days,
                    policy=policy,
                ),
                id=wid,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"Trial devices of trial {self.inp.trial_id}",
            )
        except FailureError as err:  # already started (e.g. by an earlier run): keep it
            workflow.logger.warning("device lifecycle %s not started: %s", wid, err)
        self.devices_workflow_id = wid

    async def _devices_signal(self, name: str, payload: object) -> None:
        """Tell the device lifecycle about the trial; one that has finished owes nothing."""
        if self.devices_workflow_id is None:
            return
        try:
            await workflow.get_external_workflow_handle(self.devices_workflow_id).signal(
                name, payload
            )
        except FailureError as err:
            workflow.logger.warning("device lifecycle not signalled (%s): %s", name, err)

    # --- plumbing -----------------------------------------------------------------------

    async def _notify(
        self, kind: str, *, round_: int = 0, due: datetime | None = None, **context: object
    ) -> None:
        """Send one kind of notice to everyone owed it; ``due`` is the deadline it belongs to."""
        due = due or workflow.now()
        ctx = {
            k: (v.strftime("%Y-%m-%d") if isinstance(v, datetime) else str(v))
            for k, v in context.items()
            if v is not None
        }
        views = await act(
            TrialActivity.send_notices,
            NoticeBatch(
                trial_id=self.inp.trial_id, kind=kind, due_at=due, round=round_, context=ctx
            ),
            summary=f"send {kind} notices",
        )
        for v in views:
            self.notices[f"{v.kind}:{round_}:{v.recipient}"] = v
        self.sent.add(kind)

    # --- one activity per step (patch ONE_STEP) --------------------------------------------

    async def _run_v2(self) -> TrialStatus:
        """Open the trial (the deadline ``open``, due at once), then its deadlines and
        commands, each one step; the read model is written by the steps themselves."""
        while not self._finished():
            row = self._row_now()
            if self.opened and row != self._row and row != self._row_tried:
                self._row_tried = row  # after `error`, or its retry; tried once each
                async with self._lock:
                    await self._record_v2()
            deadline = self._next_deadline()
            self._publish_v2()
            await self.turn(deadline, DEADLINE_LABELS)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not isinstance(self._published, tuple) or self._published[0] != self.state:
            self._publish_v2()  # ended by an update (converted): the state changed
        return self.status()

    async def _until_opened(self) -> None:
        """Updates act on an opened trial (or are refused once the opening failed)."""
        if self.v2:
            await workflow.wait_condition(lambda: self.opened or self.failure is not None)

    def _row_now(self) -> dict[str, Any]:
        """The read model (``trial`` row) of the trial as it is now, as JSON."""
        d = self._next_deadline() if not self._finished() else None

        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "state": self.state,
            "services": list(self.services),
            "license_count": self.license_count,
            "partner_admin_level": self.partner_admin_level,
            "consent_deadline_at": iso(self.consent_deadline_at),
            "activated_at": iso(self.activated_at),
            "ends_at": iso(self.ends_at),
            "grace_ends_at": iso(self.grace_ends_at),
            "numbers_release_at": iso(self.numbers_release_at),
            "numbers_released_at": iso(self.numbers_released_at),
            "converted_at": iso(self.converted_at),
            "order_id": self.order_id,
            "cancelled_at": iso(self.cancelled_at),
            "cancelled_by": self.cancelled_by,
            "cancel_reason": self.cancel_reason,
            "free_org_id": self.free_org_id,
            "next_deadline_at": iso(d.at) if d else None,
            "next_deadline_kind": d.kind if d else None,
        }

    def _row_after(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The read model as it will be once ``changes`` (attributes) are made."""
        saved = {k: getattr(self, k) for k in changes}
        try:
            for k, v in changes.items():
                setattr(self, k, v)
            return self._row_now()
        finally:
            for k, v in saved.items():
                setattr(self, k, v)

    async def _step(
        self,
        summary: str,
        changes: dict[str, Any],
        *,
        notices: list[NoticeBatch] | None = None,
        users: NoticeBatch | None = None,
        **effects: Any,
    ) -> StepResult:
        """One step: its effects, notices and the read model's changed fields in one
        activity; the workflow takes ``changes`` once it succeeded. ``users``: TR-E3's
        notice to every user, in batches that heartbeat."""
        batches = [*(notices or []), *([users] if users else [])]
        if batches:
            changes = {**changes, "sent": self.sent | {b.kind for b in batches}}
        row = self._row_after(changes)
        record = {k: v for k, v in row.items() if k not in self._row or self._row[k] != v}
        try:
            if users is not None:
                then = TrialStep(trial_id=self.inp.trial_id, **effects) if effects else None
                mass = MassNotice(
                    trial_id=self.inp.trial_id, notice=users, record=record, then=then
                )
                res = await act(
                    TrialActivity.mail_users,
                    mass,
                    summary=summary,
                    start_to_close=MAIL_USERS_TIMEOUT,
                    heartbeat=MAIL_USERS_HEARTBEAT,
                )
            else:
                st = TrialStep(
                    trial_id=self.inp.trial_id, notices=batches, record=record, **effects
                )
                res = await act(TrialActivity.step, st, summary=summary)
        except StepFailed:
            self._row = {}  # not known what was written: the next record writes it all
            self.inbox.changed = True
            raise
        if not res.accepted:
            return res
        for k, v in changes.items():
            setattr(self, k, v)
        if effects.get("end_services") is not None and res.retained == 0:
            self.numbers_release_at = None  # no number retained, nothing to release
            row = no_release(row)
        self._row = row
        rounds = {b.kind: b.round for b in batches}
        for v in res.notices:
            self.notices[f"{v.kind}:{rounds.get(v.kind, 0)}:{v.recipient}"] = v
        return res

    async def _record_v2(self) -> None:
        """The read model only (after a step failed for good, or the retry)."""
        try:
            await self._step(f"record state {self.state}", {})
        except StepFailed as err:
            self.failed(err)

    def _batch(
        self, kind: str, *, round_: int = 0, due: datetime | None = None, **context: object
    ) -> NoticeBatch:
        """One kind of notice to everyone owed it; ``due`` is the deadline it belongs to."""
        ctx = {
            k: (v.strftime("%Y-%m-%d") if isinstance(v, datetime) else str(v))
            for k, v in context.items()
            if v is not None
        }
        return NoticeBatch(
            trial_id=self.inp.trial_id,
            kind=kind,
            due_at=due or workflow.now(),
            round=round_,
            context=ctx,
        )

    def _provisioned(self) -> dict[str, Any]:
        """What provisioning changes (TR-S5): active from now for the trial's days."""
        now = workflow.now()
        ends_at = now + self.policy.days(self.inp.days)
        return {"activated_at": now, "ends_at": ends_at, "_end_set_at": now, "state": "active"}

    async def _begin(self) -> None:
        """The first step: the trial written; the consent request (TR-C1) or the notice
        to an existing org's admins (TR-S7); set up now: provisioned, welcome (TR-S5)."""
        changes: dict[str, Any] = {"opened": True}
        notices: list[NoticeBatch] = []
        plan = None
        if self.state == "pending_consent":
            deadline = workflow.now() + self.policy.days(self.policy.consent_days)
            changes["consent_deadline_at"] = deadline
            notices.append(self._batch("consent_request", deadline=deadline))
        elif not self.inp.new_customer:
            notices.append(self._batch("trial_started"))  # TR-S7
        if self.state == "awaiting_provisioning" and self.inp.setup == "now":
            changes.update(self._provisioned())
            plan = self._plan()
            notices.append(self._batch("welcome", ends_at=changes["ends_at"]))
        await self._step("open trial", changes, open=self.inp, provision=plan, notices=notices)
        self.inbox.changed |= bool(self.inbox.queue)  # signals that waited for the opening
        if plan is not None and "devices" in self.services:
            await self._devices_child_start()

    async def _provision_v2(self) -> None:
        changes = self._provisioned()
        welcome = self._batch("welcome", ends_at=changes["ends_at"])
        await self._step("provision trial", changes, provision=self._plan(), notices=[welcome])
        if "devices" in self.services:
            await self._devices_child_start()  # devices: their own lifecycle (TR-S4, DV)

    async def _accept_v2(self, sig: AcceptConsent) -> bool:
        """TR-C2..C4 in one step: nothing is written unless a full admin accepted."""
        level = "full_admin" if sig.grant_full_admin else "provisioning_admin"
        changes: dict[str, Any] = {"partner_admin_level": level, "state": "awaiting_provisioning"}
        plan, notices = None, []
        if self.inp.setup == "now":
            changes.update(self._provisioned())
            plan = self._plan()
            notices.append(self._batch("welcome", ends_at=changes["ends_at"]))
        res = await self._step(
            "customer accepted: awaiting provisioning details",
            changes,
            consent=ConsentGrant(accepted_by=sig.accepted_by, partner_admin_level=level),
            provision=plan,
            notices=notices,
        )
        if not res.accepted:  # TR-C3: only a full admin can accept
            self.inbox.reject("accept_consent", "TR-C3 (accepted_by): not a full admin of the org")
            return False
        if plan is not None and "devices" in self.services:
            await self._devices_child_start()
        return True

    async def _resend_v2(self) -> None:
        """TR-C5: the request again, the clock not restarted."""
        n = self.consent_round + 1
        batch = self._batch("consent_request", round_=n, deadline=self.consent_deadline_at)
        await self._step("send consent_request again", {"consent_round": n}, notices=[batch])

    async def _cancel_v2(self, req: CancelRequest) -> None:
        """TR-D4 (and TR-C5 while pending) in one step; a trial waiting in ``error`` is
        cancelled from the state it failed in (the failed step is dropped)."""
        at = workflow.now()
        changes: dict[str, Any] = {
            "state": "cancelled",
            "cancelled_at": at,
            "cancelled_by": req.by,
            "cancel_reason": req.reason or None,
            "failure": None,
        }
        effects: dict[str, Any] = {}
        was = self.failure.state if self.failure else self.state
        if was == "pending_consent":
            effects["remove_pending"] = True
        elif was in ("active", "grace"):
            effects["end_services"] = self._ending(at)
            changes["numbers_release_at"] = effects["end_services"].numbers_release_at
        await self._step(f"cancel the trial ({req.by})", changes, **effects)
        # Devices: returns now due two weeks after the cancellation (DV-1).
        await self._devices_signal(
            "trial_cancelled", TrialCancelled(at=at, trial_run_id=workflow.info().run_id)
        )

    def _ending(self, at: datetime) -> EndServices:
        """Trial licenses removed; with calling, numbers retained until the release."""
        release_at = None
        if "calling" in self.services:
            release_at = at + self.policy.days(self.policy.number_retention_days)
        return EndServices(trial_id=self.inp.trial_id, at=at, numbers_release_at=release_at)

    async def _change_services_v2(self, req: ChangeServicesRequest) -> None:
        """TR-S6 checked, the change applied (active: provisioned) in one step."""
        changes: dict[str, Any] = {
            "services": self._services_after(req),
            "license_count": req.license_count or self.license_count,
            "site_url": req.site_url or self.site_url,
            "timezone": req.timezone or self.timezone,
        }
        plan = None
        if self.state == "active":
            plan = ProvisionPlan(
                trial_id=self.inp.trial_id,
                services=list(changes["services"]),
                license_count=changes["license_count"],
                site_url=changes["site_url"],
                timezone=changes["timezone"],
            )
        try:
            await self._step(
                "apply service change", changes, check_services=list(req.add), provision=plan
            )
        except ActivityError as err:  # TR-S6 refused: nothing was written
            raise passed_on(err) from None
        if plan is not None and "devices" in self.services:
            await self._devices_child_start()  # devices added to an active trial

    async def _on_deadline_v2(self, d: Deadline) -> None:
        p = self.policy
        if d.kind == "open":
            await self._begin()
        elif d.kind == "consent_expires":  # TR-C3
            await self._step(
                "consent window closed: remove customer from partner list",
                {"state": "consent_expired"},
                remove_pending=True,
                notices=[
                    self._batch("consent_expired", due=d.at, consent_days=str(p.consent_days))
                ],
            )
        elif d.kind == "expiry_t_minus_7":  # TR-E1
            batch = self._batch("expiry_t_minus_7", due=d.at, **self._expiry_context(d.at))
            await self._step("send expiry_t_minus_7 notices", {}, notices=[batch])
        elif d.kind == "trial_expires":  # TR-E1 then TR-E2
            assert self.ends_at is not None
            batch = self._batch("expiry_today", due=d.at, **self._expiry_context(d.at))
            grace = {"grace_ends_at": self.ends_at + p.days(p.grace_days), "state": "grace"}
            await self._step("trial expired: send expiry_today notices", grace, notices=[batch])
        elif d.kind == "services_ended_notice":  # TR-E3
            batch = self._batch("services_ended", due=d.at, days_after=str(p.user_notice_days))
            if self.grace_ends_at and self.grace_ends_at <= workflow.now():
                # Grace ends at the same moment (the notice is due by then, by default at
                # once): one step tells every user, then ends the trial (TR-E4, TR-E5).
                summary, changes, effects = self._grace_end(self.grace_ends_at)
                summary = f"send services_ended notices to every user; {summary}"
                await self._step(summary, changes, users=batch, **effects)
            else:
                await self._step("send services_ended notices to every user", {}, users=batch)
        elif d.kind == "grace_ends":  # TR-E4, TR-E5
            summary, changes, effects = self._grace_end(d.at)
            await self._step(summary, changes, **effects)
        elif d.kind == "numbers_release":  # TR-E5
            await self._step(
                "release retained phone numbers",
                {"numbers_released_at": workflow.now()},
                release_numbers=True,
            )

    def _grace_end(self, at: datetime) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Grace over (TR-E4, TR-E5): trial licenses removed, numbers retained; the users
        move to a free org, unless the org pays for something (then it keeps them)."""
        ending = self._ending(at)
        changes: dict[str, Any] = {"numbers_release_at": ending.numbers_release_at}
        effects: dict[str, Any] = {"end_services": ending}
        if self.inp.paying_customer:
            changes["state"] = "expired"
            return "grace ended: remove trial licenses", changes, effects
        changes["state"] = "migrated_to_free_org"
        changes["free_org_id"] = f"free-{self.inp.trial_id}"
        effects["migrate"] = True
        summary = "grace ended: remove trial licenses, move users to a free org (irreversible)"
        return summary, changes, effects

    def _state_deadline(self) -> Deadline | None:
        """The deadline that ends the current state (what the search attributes show; the
        notices due within a state do not change them)."""
        if self.state == "pending_consent" and self.consent_deadline_at:
            return Deadline("consent_expires", self.consent_deadline_at)
        if self.state == "active" and self.ends_at:
            return Deadline("trial_expires", self.ends_at)
        if self.state == "grace" and self.grace_ends_at:
            return Deadline("grace_ends", self.grace_ends_at)
        if self.numbers_release_at and not self.numbers_released_at:
            return Deadline("numbers_release", self.numbers_release_at)
        return None

    def _started_with(self) -> object:
        """What the starter published (``start_lifecycle``): nothing to publish again."""
        attrs = workflow.info().typed_search_attributes
        if (
            attrs.get(sa.LIFECYCLE_STATE) == self.state
            and attrs.get(sa.PARTNER_ORG_ID) == self.inp.partner_org_id
            and attrs.get(sa.CUSTOMER_ORG_ID) == self.inp.customer_org_id
            and attrs.get(sa.NEXT_DEADLINE_AT) is None
        ):
            return (self.state, None)
        return None

    def _publish_v2(self) -> None:
        """Search attributes when the state or its deadline changed; current details."""
        d = self._state_deadline() if self.opened else None
        self.publish((self.state, d), d, self.inp.partner_org_id, self.inp.customer_org_id)
        workflow.set_current_details(self._details(self.status()))

    async def _publish(self, deadline: Deadline | None) -> None:
        """Search attributes, current details and the read model, when they changed."""
        st = self.status()
        self.publish(
            (self.state, deadline), deadline, self.inp.partner_org_id, self.inp.customer_org_id
        )
        workflow.set_current_details(self._details(st))
        await self.record(TrialActivity.record_trial, st, f"record state {self.state}")

    def _details(self, st: TrialStatus) -> str:
        lines = [
            f"**Trial {st.trial_id}**: `{st.state}`",
            f"Services: {', '.join(st.services)} · {st.license_count} licenses each",
            f"Waiting for: {st.waiting_for}",
            *self.failure_details(),
            *self.inbox.details(),
        ]
        for label, value in (
            ("Consent deadline", st.consent_deadline_at),
            ("Ends", st.ends_at),
            ("Grace ends", st.grace_ends_at),
            ("Numbers released", st.numbers_release_at),
        ):
            if value:
                lines.append(f"{label}: {value:%Y-%m-%d %H:%M} UTC")
        return "\n\n".join(lines)
