"""DeviceTrial: one workflow per trial with devices (``devices-<trial_id>``), from the first
shipment until every serial is back.

Started by ``TrialLifecycle`` as a child with parent close policy ABANDON: returns are owed
after the trial ends (TR-V4). Deadlines are data (``expires_at``, ``return_due_at`` and the
reminders before it); the main loop waits for the earliest one or a change, so an approved
extension (TR-D2) or a cancellation of the trial re-plans every timer. Updates validate
first (a refusal names its rule and changes nothing), then act under the lock; the parent's
signals are queued and handled by the main loop under the same lock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.devices.contract import (
        ApproveExtension,
        DeviceActivity,
        DeviceChanges,
        DeviceState,
        DeviceStatus,
        DeviceTrialInput,
        DeviceTrialRecord,
        DeviceUpdateResult,
        DeviceView,
        ExtensionRequest,
        ExtensionView,
        LabelRequest,
        NoticeView,
        RejectExtension,
        ReturnRequest,
        ShipmentRecord,
        ShipmentRequest,
        ShipmentView,
        TrialCancelled,
        TrialConverted,
        carrier_for,
    )
    from models.devices.contract import DeviceNoticeBatch as NoticeBatch
from workflows.common import (
    Deadline,
    Inbox,
    Lifecycle,
    StepFailed,
    act,
    parse,
    refuse,
)

# workflow.patched ids: each marks a change to running lifecycles (see tests/test_replay.py).
PARENT_SIGNALS_ONLY = "device-parent-signals-only"
RECORD_CHANGES = "devices-record-changes"  # the read model gets what changed, not the status
# Updates refused by their deadlines in workflow time, not only by a state that may lag
# (a worker away, a step failed); handlers of older histories re-check the state only.
DEADLINES_NOW = "devices-deadlines-in-workflow-time"

DEADLINE_LABELS = {
    "shipping_window": "nothing shipped yet: the device trial closes (TR-D2)",
    "device_expires": "device trial expires; returns become due (TR-D2, DV-1)",
    "return_reminder": "return reminder (DV-1)",
    "return_due": "returns due: devices still out become overdue (DV-1)",
}


@workflow.defn(name="DeviceTrial")
class DeviceTrial(Lifecycle):
    @workflow.init
    def __init__(self, inp: DeviceTrialInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        self.trial_days = min(inp.trial_days, inp.policy.max_days)  # TR-D2
        self.started_at = workflow.now()
        self.state: DeviceState = "shipping"
        self.shipments: dict[str, ShipmentView] = {}
        self.devices: dict[str, DeviceView] = {}
        self.extensions: list[ExtensionView] = []
        self.first_shipped_at: datetime | None = None
        self.expires_at: datetime | None = None
        self.return_due_at: datetime | None = None
        self._due_set_at: datetime | None = None
        self.converted_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.overdue_at: datetime | None = None
        self.returned_at: datetime | None = None
        self.closed_reason: str | None = None
        self.sent: set[str] = set()  # reminder tags already sent
        self.notices: dict[str, NoticeView] = {}
        self.inbox: Inbox[TrialConverted | TrialCancelled] = Inbox()
        self._lock = asyncio.Lock()
        self._publish_lock = asyncio.Lock()
        # What the read model last recorded, to send it only what changed since.
        self._rec_trial: DeviceTrialRecord | None = None
        self._rec_shipments: dict[str, ShipmentRecord] = {}
        self._rec_devices: dict[str, DeviceView] = {}
        self._rec_extensions: dict[int, ExtensionView] = {}

    # --- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: DeviceTrialInput) -> DeviceStatus:
        while self.state != "returned":
            deadline = self._next_deadline()
            await self._publish(deadline)
            await self.turn(deadline, DEADLINE_LABELS)

        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._publish(None)
        return self.status()

    def _outstanding(self) -> list[str]:
        return [s for s, d in self.devices.items() if d.state != "returned"]

    def _next_deadline(self) -> Deadline | None:
        if self.state == "returned":
            return None
        if not self.shipments:
            return Deadline(
                "shipping_window", self.started_at + self.policy.days(self.policy.max_days)
            )
        if self.state == "overdue" or self.return_due_at is None:
            return None  # overdue: escalated once; waiting for the returns
        candidates: list[Deadline] = []
        if self.state == "in_trial" and self.expires_at:
            candidates.append(Deadline("device_expires", self.expires_at))
        due = self.return_due_at
        for days in self.policy.reminder_days:
            at = due - self.policy.days(days)
            tag = self._reminder_tag(days, due)
            # A reminder already behind the moment the due date was set is not sent.
            if tag not in self.sent and at >= (self._due_set_at or at):
                candidates.append(Deadline("return_reminder", at, tag))
        candidates.append(Deadline("return_due", due))
        return min(candidates, key=lambda d: d.at)

    @staticmethod
    def _reminder_tag(days: int, due: datetime) -> str:
        return f"{days}d@{due:%Y%m%dT%H%M%S}"

    def _refresh_state(self) -> None:
        if self.state == "returned":
            return
        if self.shipments and not self._outstanding():
            self.state = "returned"
            self.returned_at = workflow.now()
        elif not self.shipments:
            self.state = "shipping"
        elif self.overdue_at is not None:
            self.state = "overdue"
        elif self.cancelled_at is not None or (
            self.expires_at is not None and workflow.now() >= self.expires_at
        ):
            self.state = "awaiting_return"
        else:
            self.state = "in_trial"

    async def _on_deadline(self, d: Deadline) -> None:
        workflow.logger.info("deadline reached: %s %s", d.kind, d.tag)
        if d.kind == "shipping_window":
            self.closed_reason = f"nothing shipped within {self.policy.max_days} days"
            self.state = "returned"
            self.returned_at = workflow.now()
        elif d.kind == "device_expires":
            self._refresh_state()
        elif d.kind == "return_reminder":  # DV-1
            assert self.return_due_at is not None
            left = self.policy.in_days(self.return_due_at - workflow.now())
            await self._notify(
                "device_return_reminder",
                d.tag,
                days_left=str(max(0, round(left))),
                missing=self._missing_text(),
                instructions=" ".join(
                    sh.return_instructions for sh in self.shipments.values() if self._out_of(sh)
                ),
            )
            self.sent.add(d.tag)
        elif d.kind == "return_due":  # DV-1: still out -> overdue, escalated once
            if self._outstanding():
                self.overdue_at = workflow.now()
                for serial in self._outstanding():
                    self.devices[serial].state = "overdue"
                await self._notify("device_overdue", "escalation", missing=self._missing_text())
            self._refresh_state()

    def _out_of(self, sh: ShipmentView) -> bool:
        return any(self.devices[s].state != "returned" for s in sh.serials)

    def _missing_text(self) -> str:
        by_type: dict[str, list[str]] = {}
        for s in self._outstanding():
            d = self.devices[s]
            by_type.setdefault(f"{d.model} ({d.device_type})", []).append(s)
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in by_type.items()) or "none"

    # --- signals from the parent TrialLifecycle (queued; handled by the main loop) --------

    @workflow.signal
    def trial_converted(self, *args: Any) -> None:
        """From the parent TrialLifecycle only (it sends its run id)."""
        self.inbox.receive("trial_converted", TrialConverted, args, "TR-V4")

    @workflow.signal
    def trial_cancelled(self, *args: Any) -> None:
        """From the parent TrialLifecycle only (it sends its run id)."""
        self.inbox.receive("trial_cancelled", TrialCancelled, args, "DV-1")

    def _from_parent(self, sig: TrialConverted | TrialCancelled) -> bool:
        """A parent-only signal sent by anyone else would put devices out of step with
        their trial: refused (and shown), for lifecycles started after this check."""
        if not workflow.patched(PARENT_SIGNALS_ONLY):
            return True
        parent = workflow.info().parent
        return parent is not None and sig.trial_run_id == parent.run_id

    async def _handle_signals(self) -> None:
        while (sig := self.inbox.take()) is not None:
            if not self._from_parent(sig):
                name = "trial_converted" if isinstance(sig, TrialConverted) else "trial_cancelled"
                self.inbox.reject(name, "only the device lifecycle's own trial sends this")
            elif self.state == "returned":
                workflow.logger.warning("ignored %s: nothing is owed", type(sig).__name__)
            elif isinstance(sig, TrialConverted):
                # TR-V4: a converted trial still owes every device; nothing else changes.
                self.converted_at = self.converted_at or workflow.now()
            elif isinstance(sig, TrialCancelled) and self.cancelled_at is None:
                self._cancel(sig.at)

    def _cancel(self, at: datetime) -> None:
        self.cancelled_at = at
        if not self.shipments:
            self.closed_reason = "trial cancelled before any device shipped"
            self.state = "returned"
            self.returned_at = workflow.now()
            return
        # Returns are due two weeks after the cancellation, if that is sooner (DV-1).
        due = at + self.policy.days(self.policy.return_days)
        if self.return_due_at is None or due < self.return_due_at:
            self.return_due_at = due
            self._due_set_at = workflow.now()
        for e in self.extensions:
            if e.state == "pending":
                e.state, e.decided_at = "rejected", workflow.now()
                e.decided_by, e.decision_reason = "system", "trial cancelled"
        self._refresh_state()

    # --- updates: shipments and returns (the warehouse) ----------------------------------

    @workflow.update
    async def record_shipment(self, *args: Any) -> DeviceUpdateResult:
        async with self._lock:
            req = parse(ShipmentRequest, args, "TR-S4")
            self._check_shipment(req, deadlines=workflow.patched(DEADLINES_NOW))
            now = workflow.now()
            shipped_at = req.ship_date or now
            rule = carrier_for(req.country)
            assert rule is not None
            sh = ShipmentView(
                device_type=req.device_type,
                model=req.model,
                quantity=req.quantity,
                serials=list(req.serials),
                country=req.country,
                region=rule.region,
                carrier=rule.carrier,
                return_label_in_box=rule.return_label_in_box,
                return_instructions=rule.instructions,
                shipped_at=shipped_at,
            )
            self.shipments[req.device_type] = sh
            for serial in req.serials:
                self.devices[serial] = DeviceView(
                    serial=serial,
                    device_type=req.device_type,
                    model=req.model,
                    state="shipped",
                    shipped_at=shipped_at,
                )
            if self.first_shipped_at is None:  # the device clock starts at the first shipment
                self.first_shipped_at = shipped_at
                self.expires_at = shipped_at + self.policy.days(self.trial_days)
                self.return_due_at = self.expires_at + self.policy.days(self.policy.return_days)
                self._due_set_at = now
            self._refresh_state()
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            await self._notify(  # the EULA, with the expiry date that DV-1 counts from
                "device_eula",
                req.device_type,
                device_type=req.device_type,
                model=req.model,
                quantity=str(req.quantity),
                serials=", ".join(req.serials),
                shipped=shipped_at,
                carrier=rule.carrier,
                instructions=rule.instructions,
                psu="yes" if req.device_type == "phone" else "",  # DV-5
            )
            return self._result(
                f"{req.quantity} x {req.model} shipped to {req.country}; returns by "
                f"{rule.carrier}; devices expire {self._fmt(self.expires_at)}"
            )

    @record_shipment.validator
    def _validate_shipment(self, *args: Any) -> None:
        self._check_shipment(parse(ShipmentRequest, args, "TR-S4"), deadlines=True)

    def _check_shipment(self, req: ShipmentRequest, deadlines: bool) -> None:
        if prior := self.shipments.get(req.device_type):
            raise refuse(
                "TR-S4",
                "device_type",
                f"{prior.quantity} {req.device_type} already shipped on "
                f"{self._fmt(prior.shipped_at)}: one shipment per device type, ever",
            )
        if self.cancelled_at is not None:
            raise refuse("TR-D4", "state", "the trial was cancelled: nothing more ships")
        if self.state in ("awaiting_return", "overdue"):
            raise refuse("TR-D2", "state", f"the device trial expired {self._fmt(self.expires_at)}")
        if deadlines:  # the state may lag behind the deadline (a worker away, a step failed)
            self._refuse_past_deadlines()
        if req.quantity != len(req.serials):
            raise refuse(
                "DV-2",
                "serials",
                f"quantity {req.quantity} but {len(req.serials)} serial numbers",
            )
        if any(not s for s in req.serials):
            raise refuse("DV-2", "serials", "a serial number is empty")
        if len(set(req.serials)) != len(req.serials):
            raise refuse("DV-2", "serials", "a serial number is listed twice")
        if known := sorted(set(req.serials) & set(self.devices)):
            raise refuse("DV-2", "serials", f"already shipped on this trial: {', '.join(known)}")
        if carrier_for(req.country) is None:
            raise refuse(
                "DV-3",
                "country",
                f"no return carrier for {req.country}: devices ship to the US, Canada, "
                "EMEAR and Australia",
            )
        if req.ship_date is not None and req.ship_date > workflow.now():
            raise refuse("TR-S4", "ship_date", "a ship date cannot be in the future")

    @workflow.update
    async def record_return(self, *args: Any) -> DeviceUpdateResult:
        async with self._lock:
            self._validate_return(*args)
            req = parse(ReturnRequest, args, "DV-2")
            now = workflow.now()
            for serial in req.serials:
                d = self.devices[serial]
                d.state, d.returned_at = "returned", now
                d.return_carrier, d.return_tracking = req.carrier, req.tracking
            self._refresh_state()
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            left = self._outstanding()
            return self._result(
                f"{len(req.serials)} returned; "
                + (f"{len(left)} still out" if left else "every device is back")
            )

    @record_return.validator
    def _validate_return(self, *args: Any) -> None:
        req = parse(ReturnRequest, args, "DV-2")
        """DV-2: only serials shipped on this trial, each returned once."""
        if len(set(req.serials)) != len(req.serials):
            raise refuse("DV-2", "serials", "a serial number is listed twice")
        if unknown := [s for s in req.serials if s not in self.devices]:
            raise refuse("DV-2", "serials", f"not shipped on this trial: {', '.join(unknown)}")
        if again := [s for s in req.serials if self.devices[s].state == "returned"]:
            raise refuse("DV-2", "serials", f"already returned: {', '.join(again)}")

    @workflow.update
    async def request_label(self, *args: Any) -> DeviceUpdateResult:
        """DV-4: a lost return label is re-issued in the US only."""
        async with self._lock:
            self._validate_label(*args)
            req = parse(LabelRequest, args, "DV-4")
            issued: list[str] = []
            for sh in self._label_targets(req):
                label = f"UPS-{self.inp.trial_id}-{sh.device_type}-{len(sh.labels) + 1}"
                sh.labels.append(label)
                issued.append(label)
                await self._notify(
                    "device_return_label",
                    label,
                    label=label,
                    model=sh.model,
                    device_type=sh.device_type,
                    missing=self._missing_text(),
                )
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            return self._result(f"new UPS return label(s): {', '.join(issued)}")

    def _label_targets(self, req: LabelRequest) -> list[ShipmentView]:
        return [
            sh
            for sh in self.shipments.values()
            if (req.device_type is None or sh.device_type == req.device_type) and self._out_of(sh)
        ]

    @request_label.validator
    def _validate_label(self, *args: Any) -> None:
        req = parse(LabelRequest, args, "DV-4")
        targets = self._label_targets(req)
        if not targets:
            what = f"{req.device_type} " if req.device_type else ""
            raise refuse("DV-4", "device_type", f"no {what}devices are out to return")
        if elsewhere := [sh for sh in targets if sh.carrier != "UPS"]:
            contacts = "; ".join(
                f"{sh.device_type} shipped to {sh.country}: contact {sh.carrier}"
                for sh in elsewhere
            )
            raise refuse(
                "DV-4",
                "country",
                f"return labels are re-issued in the US only; {contacts}",
            )

    # --- updates: extensions (the partner asks, the trials team decides; TR-D2) -----------

    def _pending(self) -> ExtensionView | None:
        return next((e for e in self.extensions if e.state == "pending"), None)

    def _room_days(self) -> float:
        """Days the device trial may still grow before it lasts ``max_days`` (TR-D2)."""
        assert self.first_shipped_at is not None and self.expires_at is not None
        used = self.policy.in_days(self.expires_at - self.first_shipped_at)
        return self.policy.max_days - used

    @workflow.update
    async def request_extension(self, *args: Any) -> DeviceUpdateResult:
        async with self._lock:
            req = parse(ExtensionRequest, args, "TR-D2")
            self._check_request_extension(deadlines=workflow.patched(DEADLINES_NOW))
            ext = ExtensionView(
                seq=len(self.extensions) + 1,
                days=req.days,
                reason=req.reason,
                state="pending",
                requested_at=workflow.now(),
            )
            self.extensions.append(ext)
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            room = self._room_days()
            await self._notify(
                "device_extension_requested",
                str(ext.seq),
                days=str(req.days),
                reason=req.reason,
                room=f"{room:.0f}",
                max_days=str(self.policy.max_days),
            )
            note = "" if req.days <= room else f" (only {room:.0f} more days can be approved)"
            return self._result(f"pending: approval by the trials team{note}", extension=ext)

    @request_extension.validator
    def _validate_request_extension(self, *args: Any) -> None:
        parse(ExtensionRequest, args, "TR-D2")
        self._check_request_extension(deadlines=True)

    def _check_request_extension(self, deadlines: bool) -> None:
        if not self.shipments:
            raise refuse("TR-D2", "state", "nothing shipped yet: the device clock has not started")
        if self.cancelled_at is not None:
            raise refuse("TR-D4", "state", "the trial was cancelled: the devices are due")
        if self.state == "overdue" or (deadlines and self._returns_overdue()):
            raise refuse("DV-1", "state", "the devices are overdue")
        if self._pending() is not None:
            raise refuse("TR-D2", "days", "an extension request is already pending")
        if self._room_days() <= 0:
            raise refuse(
                "TR-D2", "days", f"the device trial already lasts {self.policy.max_days} days"
            )

    @workflow.update
    async def approve_extension(self, *args: Any) -> DeviceUpdateResult:
        async with self._lock:
            req = parse(ApproveExtension, args, "TR-D2")
            self._check_approve(deadlines=workflow.patched(DEADLINES_NOW))
            ext = self._pending()
            assert ext is not None and self.expires_at is not None
            now = workflow.now()
            ext.state, ext.decided_at, ext.decided_by = "approved", now, req.approved_by
            self.expires_at = self.expires_at + self.policy.days(ext.days)
            self.return_due_at = self.expires_at + self.policy.days(self.policy.return_days)
            self._due_set_at = now
            self._refresh_state()
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            await self._notify("device_extension_approved", str(ext.seq), days=str(ext.days))
            return self._result(
                f"extended by {ext.days} days: devices expire {self._fmt(self.expires_at)}",
                extension=ext,
            )

    @approve_extension.validator
    def _validate_approve(self, *args: Any) -> None:
        parse(ApproveExtension, args, "TR-D2")
        self._check_approve(deadlines=True)

    def _check_approve(self, deadlines: bool) -> None:
        ext = self._pending()
        if ext is None:
            raise refuse("TR-D2", "state", "no extension request is pending")
        if self.state == "overdue" or (deadlines and self._returns_overdue()):
            raise refuse("DV-1", "state", "the devices are overdue; reject the request")
        room = self._room_days()
        if ext.days > room:
            assert self.first_shipped_at is not None
            raise refuse(
                "TR-D2",
                "days",
                f"{ext.days} more days would pass {self.policy.max_days} days since the first "
                f"shipment on {self._fmt(self.first_shipped_at)} (at most {room:.0f} more); "
                "reject it and ask again",
            )

    @workflow.update
    async def reject_extension(self, *args: Any) -> DeviceUpdateResult:
        async with self._lock:
            self._validate_reject(*args)
            req = parse(RejectExtension, args, "TR-D2")
            ext = self._pending()
            assert ext is not None
            ext.state, ext.decided_at = "rejected", workflow.now()
            ext.decided_by, ext.decision_reason = req.rejected_by, req.reason
            self.inbox.changed = True
            await self._publish(self._next_deadline())
            await self._notify(
                "device_extension_rejected",
                str(ext.seq),
                days=str(ext.days),
                reason=req.reason or "no reason given",
            )
            return self._result("extension rejected", extension=ext)

    @reject_extension.validator
    def _validate_reject(self, *args: Any) -> None:
        parse(RejectExtension, args, "TR-D2")
        if self._pending() is None:
            raise refuse("TR-D2", "state", "no extension request is pending")

    # --- deadlines in workflow time (the state may lag behind them) ------------------------

    def _returns_overdue(self) -> bool:
        """DV-1: the return due date has passed, whether or not the step that turns the
        devices ``overdue`` has run yet."""
        return self.return_due_at is not None and workflow.now() >= self.return_due_at

    def _refuse_past_deadlines(self) -> None:
        """TR-D2: nothing ships once the device trial expired, or once the shipping window
        closed with nothing shipped, by the workflow's clock."""
        now = workflow.now()
        if self.expires_at is not None and now >= self.expires_at:
            raise refuse("TR-D2", "state", f"the device trial expired {self._fmt(self.expires_at)}")
        window = self.started_at + self.policy.days(self.policy.max_days)
        if not self.shipments and now >= window:
            raise refuse(
                "TR-D2",
                "state",
                f"nothing shipped within {self.policy.max_days} days: the device trial closed",
            )

    def _result(self, message: str, extension: ExtensionView | None = None) -> DeviceUpdateResult:
        return DeviceUpdateResult(
            state=self.state,
            expires_at=self.expires_at,
            return_due_at=self.return_due_at,
            outstanding=self._outstanding(),
            extension=extension,
            message=message,
        )

    # --- query --------------------------------------------------------------------------

    @workflow.query
    def status(self) -> DeviceStatus:
        d = self._next_deadline()
        return DeviceStatus(
            trial_id=self.inp.trial_id,
            state=self.state,
            partner_org_id=self.inp.partner_org_id,
            customer_org_id=self.inp.customer_org_id,
            trial_days=self.trial_days,
            max_days=self.policy.max_days,
            first_shipped_at=self.first_shipped_at,
            expires_at=self.expires_at,
            return_due_at=self.return_due_at,
            converted_at=self.converted_at,
            cancelled_at=self.cancelled_at,
            overdue_at=self.overdue_at,
            returned_at=self.returned_at,
            closed_reason=self.closed_reason,
            shipments=[sh.model_copy(deep=True) for sh in self.shipments.values()],
            devices=[dv.model_copy() for dv in self.devices.values()],
            extensions=[e.model_copy() for e in self.extensions],
            outstanding=self._outstanding(),
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            waiting_for=self._waiting_for(d),
            notices=list(self.notices.values()),
            rejected=list(self.inbox.rejected),
            failure=self.failure,
        )

    def _waiting_for(self, d: Deadline | None) -> str:
        when = f"{DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC" if d else ""
        n = len(self._outstanding())
        if self.state == "returned":
            return f"nothing: {self.closed_reason or 'every device is back'}"
        if self.state == "shipping":
            return f"the first shipment (update `record_shipment`), else {when}"
        if self.state == "overdue":
            return f"returns of {n} overdue devices (update `record_return`); escalated"
        if self.state == "in_trial":
            return f"{when}; returns, more shipments, extension requests"
        return f"returns of {n} devices (update `record_return`); {when}"

    # --- plumbing -----------------------------------------------------------------------

    def _fmt(self, at: datetime | None) -> str:
        if at is None:
            return "-"
        return f"{at:%Y-%m-%d}" if self.policy.day_seconds >= 86400 else f"{at:%Y-%m-%d %H:%M} UTC"

    async def _notify(self, kind: str, tag: str, **context: object) -> None:
        ctx = {
            "expires": self._fmt(self.expires_at),
            "return_due": self._fmt(self.return_due_at),
            "return_days": str(self.policy.return_days),
        }
        for k, v in context.items():
            ctx[k] = self._fmt(v) if isinstance(v, datetime) else str(v)
        views = await act(
            DeviceActivity.send_device_notices,
            NoticeBatch(
                trial_id=self.inp.trial_id,
                kind=kind,
                tag=tag,
                due_at=workflow.now(),
                trials_team_email=self.policy.trials_team_email,
                context=ctx,
            ),
            summary=f"send {kind} notices",
        )
        for v in views:
            self.notices[f"{v.kind}:{tag}:{v.recipient}"] = v

    async def _publish(self, deadline: Deadline | None) -> None:
        """Search attributes, current details and the read model, when they changed. One
        publish at a time, so the read model is never overwritten by an older status."""
        async with self._publish_lock:
            st = self.status()
            key = (
                self.state,
                deadline.kind if deadline else None,
                deadline.at if deadline else None,
            )
            self.publish(key, deadline, self.inp.partner_org_id, self.inp.customer_org_id)
            workflow.set_current_details(self._details(st))
            if workflow.patched(RECORD_CHANGES):
                await self._record_changes(st)
            else:  # lifecycles recorded before: the whole status each time
                await self.record(
                    DeviceActivity.record_devices, st, f"record devices: {self.state}"
                )

    def _changes(self, st: DeviceStatus) -> DeviceChanges:
        """What changed since the read model last recorded: the trial row if one of its
        columns did, and the new or changed shipments, serials and extension requests."""
        trial = DeviceTrialRecord.model_validate(
            st.model_dump(include=set(DeviceTrialRecord.model_fields))
        )
        shipments = (
            ShipmentRecord.model_validate(sh.model_dump(exclude={"serials"}))
            for sh in self.shipments.values()
        )
        return DeviceChanges(
            trial_id=self.inp.trial_id,
            trial=trial if trial != self._rec_trial else None,
            shipments=[r for r in shipments if self._rec_shipments.get(r.device_type) != r],
            devices=[
                d.model_copy() for s, d in self.devices.items() if self._rec_devices.get(s) != d
            ],
            extensions=[
                e.model_copy() for e in self.extensions if self._rec_extensions.get(e.seq) != e
            ],
        )

    async def _record_changes(self, st: DeviceStatus) -> None:
        """The read model, given only what changed (history stays small with a thousand
        devices out); forgotten as recorded only once written, so a step that failed for
        good (state ``error``) is sent again after ``retry``."""
        changes = self._changes(st)
        if changes.empty():
            return
        try:
            await act(
                DeviceActivity.devices_record_changes,
                changes,
                summary=f"record device changes: {self.state}",
            )
        except StepFailed as err:
            self.failed(err)
            return
        self._rec_trial = changes.trial or self._rec_trial
        self._rec_shipments.update((r.device_type, r) for r in changes.shipments)
        self._rec_devices.update((d.serial, d) for d in changes.devices)
        self._rec_extensions.update((e.seq, e) for e in changes.extensions)

    def _details(self, st: DeviceStatus) -> str:
        lines = [
            f"**Devices of trial {st.trial_id}**: `{st.state}`",
            f"Waiting for: {st.waiting_for}",
            *self.failure_details(),
            *self.inbox.details(),
        ]
        for sh in st.shipments:
            back = sum(1 for s in sh.serials if s not in st.outstanding)
            lines.append(
                f"{sh.quantity} x {sh.model} ({sh.device_type}) to {sh.country}, "
                f"returns by {sh.carrier}: {back}/{sh.quantity} back"
            )
        for label, value in (("Expires", st.expires_at), ("Return due", st.return_due_at)):
            if value:
                lines.append(f"{label}: {value:%Y-%m-%d %H:%M} UTC")
        if st.outstanding and st.state == "overdue":
            lines.append(f"Missing: {', '.join(st.outstanding)}")
        return "\n\n".join(lines)
