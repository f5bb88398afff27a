"""Device notices (TR-S4 EULA, DV-1 reminders and escalation, DV-4 labels, TR-D2 extensions):
who is owed them and their words. Written to the shared outbox under unique keys
``devices:<trial>:<kind>:<tag>:<recipient>``, so each is sent exactly once however often the
activity runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.outbox import Templates, org_emails, put_many, render
from models.devices.contract import DeviceNoticeBatch
from models.trials.notices import trial_and_names

# kind -> audience -> (subject, body). Audiences: customer_admin, partner_admin, trials_team.
TEMPLATES: Templates = {
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


async def enqueue(
    s: AsyncSession, batch: DeviceNoticeBatch, workflow_id: str | None, now: datetime
) -> list[str]:
    """Write the notice to the outbox once per recipient; return the keys to deliver."""
    if batch.kind not in TEMPLATES:  # a workflow bug: retrying cannot mend it
        raise ApplicationError(
            f"unknown device notice kind {batch.kind}", type="NotFound", non_retryable=True
        )
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
    return list(rows)
