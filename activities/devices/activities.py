"""Activities of the device lifecycle (``DeviceTrial``): the read model and the notices.

The workflow holds the truth; ``record_devices`` makes the ``device_*`` rows equal to it with
upserts (a retry writes the same thing again). Notices go through the shared outbox
(``put`` + ``deliver``) under unique keys ``devices:<trial>:<kind>:<tag>:<recipient>``, so
each is sent exactly once however often the activity runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.common import Activities
from models.common.notices import deliver, org_emails, put_many, render, trial_and_names
from models.devices.contract import (
    Device,
    DeviceExtension,
    DeviceNoticeBatch,
    DevicePolicy,
    DeviceShipment,
    DeviceStatus,
    DeviceTrialRow,
)
from models.trials.contract import NoticeView

log = structlog.get_logger(__name__)

# kind -> audience -> (subject, body). Audiences: customer_admin, partner_admin, trials_team.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "device_eula": {
        "customer_admin": (
            "Webex trial devices for {{ org }}: return by {{ return_due }}",
            "{{ partner }} shipped {{ quantity }} x {{ model }} ({{ device_type }}) to {{ org }}\n"
            "on {{ shipped }} for a trial. Serial numbers: {{ serials }}.\n\n"
            "End-user licence agreement for trial devices\n"
            "The devices are lent for the trial until {{ expires }}, the device expiry date.\n"
            "They must be returned within {{ return_days }} days after that date, by\n"
            "{{ return_due }}, whatever date the admin portal shows.\n\n"
            "How to return them ({{ carrier }}): {{ instructions }}\n"
            "{% if psu %}\nPhones ship without power supplies: they need Power over\n"
            "Ethernet (PoE). Without PoE, contact the trials team at {{ trials_team }}.\n"
            "{% endif %}",
        )
    },
    "device_return_reminder": {
        "customer_admin": (
            "Return your Webex trial devices by {{ return_due }}",
            "The trial devices of {{ org }} are due back by {{ return_due }} ({{ days_left }}\n"
            "days left). Still to return: {{ missing }}.\n\n{{ instructions }}\n",
        ),
        "partner_admin": (
            "Trial devices of {{ org }} due back by {{ return_due }}",
            "{{ org }} still has trial devices out, due back by {{ return_due }}\n"
            "({{ days_left }} days left): {{ missing }}.\n",
        ),
    },
    "device_overdue": {
        "partner_admin": (
            "Trial devices overdue: {{ org }}",
            "The trial devices of {{ org }} were due back by {{ return_due }} and are overdue.\n"
            "Missing serial numbers: {{ missing }}.\n",
        ),
        "trials_team": (
            "Overdue trial devices: {{ org }} (partner {{ partner }}, trial {{ trial_id }})",
            "Due back by {{ return_due }}; still missing: {{ missing }}.\n",
        ),
    },
    "device_return_label": {
        "customer_admin": (
            "A new UPS return label for your Webex trial devices",
            "Return label {{ label }} for the {{ model }} ({{ device_type }}) of {{ org }}: print\n"
            "it, attach it to the box and call UPS to schedule the pickup. Return by\n"
            "{{ return_due }}. Still to return: {{ missing }}.\n",
        )
    },
    "device_extension_requested": {
        "trials_team": (
            "Device trial extension requested: {{ org }} (trial {{ trial_id }})",
            "{{ partner }} asks to extend the device trial of {{ org }} by {{ days }} days:\n"
            "{{ reason }}\nThe devices expire {{ expires }}; at most {{ room }} more days can be\n"
            "approved (a device trial lasts at most {{ max_days }} days). Approve or reject:\n"
            "lifecycles devices approve-extension {{ trial_id }} --by YOU\n"
            "lifecycles devices reject-extension {{ trial_id }} --by YOU --reason WHY\n",
        )
    },
    "device_extension_approved": {
        "customer_admin": (
            "Webex trial devices: new expiry date {{ expires }}",
            "The device trial of {{ org }} was extended by {{ days }} days. The devices now\n"
            "expire {{ expires }} and must be returned by {{ return_due }}.\n",
        ),
        "partner_admin": (
            "Device trial of {{ org }} extended to {{ expires }}",
            "The trials team approved {{ days }} more days. Return due by {{ return_due }}.\n",
        ),
    },
    "device_extension_rejected": {
        "partner_admin": (
            "Device trial extension for {{ org }} not approved",
            "The trials team did not approve {{ days }} more days: {{ reason }}\n"
            "The devices expire {{ expires }}; return by {{ return_due }}.\n",
        )
    },
}


def notice_key(trial_id: str, kind: str, tag: str, recipient: str) -> str:
    return f"devices:{trial_id}:{kind}:{tag}:{recipient}"


def _now() -> datetime:
    return datetime.now(UTC)


# What ``device_trial`` copies from the status as it is (the other columns are the activity's).
_TRIAL_COLUMNS = (set(DeviceTrialRow.model_fields) & set(DeviceStatus.model_fields)) - {"trial_id"}


async def _upsert(
    s: AsyncSession,
    table: type[SQLModel],
    key: list[str],
    rows: list[dict[str, Any]],
    changing: set[str],
) -> None:
    """Insert ``rows`` in one statement; a row whose ``key`` is already there gets only its
    ``changing`` columns updated."""
    if rows:
        stmt = insert(table).values(rows)
        await s.exec(
            stmt.on_conflict_do_update(
                index_elements=key, set_={c: stmt.excluded[c] for c in changing}
            )
        )


class DeviceActivities(Activities):
    @activity.defn
    async def device_policy(self, day_seconds: float) -> DevicePolicy:
        """Snapshot the device settings (TR-D2, DV-1) for a new device lifecycle; the trial's
        own day length is kept so both clocks agree."""
        return self.deps.device_policy.model_copy(update={"day_seconds": day_seconds})

    @activity.defn
    async def record_devices(self, st: DeviceStatus) -> None:
        """Make the read model (``device_trial``, ``device_shipment``, ``device``,
        ``device_extension``) equal to the workflow's status: one upsert per table."""
        now, tid = _now(), st.trial_id
        trial = {
            **st.model_dump(include=_TRIAL_COLUMNS),
            "workflow_id": activity.info().workflow_id,
            "updated_at": now,
        }
        async with self.db.session() as s:
            await _upsert(
                s,
                DeviceTrialRow,
                ["trial_id"],
                [{"trial_id": tid, "created_at": now, **trial}],
                set(trial),
            )
            shipments = [
                {"trial_id": tid, **sh.model_dump(exclude={"serials", "return_instructions"})}
                for sh in st.shipments
            ]
            await _upsert(s, DeviceShipment, ["trial_id", "device_type"], shipments, {"labels"})
            await _upsert(
                s,
                Device,
                ["trial_id", "serial"],
                [{"trial_id": tid, **d.model_dump()} for d in st.devices],
                {"state", "returned_at", "return_carrier", "return_tracking"},
            )
            await _upsert(
                s,
                DeviceExtension,
                ["trial_id", "seq"],
                [{"trial_id": tid, **e.model_dump()} for e in st.extensions],
                {"state", "decided_at", "decided_by", "decision_reason"},
            )

    @activity.defn
    async def send_device_notices(self, batch: DeviceNoticeBatch) -> list[NoticeView]:
        """Write the notice to the outbox once per recipient, then send what is unsent."""
        now = _now()
        workflow_id = activity.info().workflow_id
        async with self.db.session() as s:
            trial, names = await trial_and_names(s, batch.trial_id)
            context = {
                **names,
                "trial_id": trial.id,
                "trials_team": batch.trials_team_email,
                **batch.context,
            }
            by_audience = {
                "customer_admin": [trial.customer_admin_email],
                "partner_admin": await org_emails(s, trial.partner_org_id, admins_only=True),
                "trials_team": [batch.trials_team_email],
            }
            rows: dict[str, dict[str, Any]] = {}  # by key: a recipient in two audiences once
            for audience in TEMPLATES[batch.kind]:
                subject, body = render(batch.kind, audience, context, TEMPLATES)
                for email in by_audience[audience]:
                    key = notice_key(trial.id, batch.kind, batch.tag, email)
                    rows.setdefault(
                        key,
                        dict(
                            key=key,
                            kind=batch.kind,
                            recipient=email,
                            subject=subject,
                            body=body,
                            due_at=batch.due_at,
                            workflow_id=workflow_id,
                            trial_id=trial.id,
                        ),
                    )
            await put_many(s, list(rows.values()), now=now)
        sent = await deliver(self.db, self.mailer, list(rows))
        log.info("device notices sent", kind=batch.kind, tag=batch.tag, count=len(sent))
        return sent
