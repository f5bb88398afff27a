"""Who is owed which trial notice (TR-C1, TR-S5, TR-S7, TR-E1, TR-E3), and its words.

The rows go through the shared outbox (models/common/outbox.py) under unique keys
``trial:<trial>:<kind>:<round>:<recipient>``, so each is sent exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.db import Database
from models.common.failures import not_found
from models.common.outbox import Recipient, Templates, org_emails, put_many, render
from models.common.tables import Org
from models.trials.contract import NoticeBatch
from models.trials.tables import Trial

# kind -> audience -> (subject, body). Audiences: customer_admin, partner_admin, user, ...
TEMPLATES: Templates = {
    "consent_request": {
        "customer_admin": (
            "{{ partner }} asks to start a Webex trial for {{ org }}",
            "{{ partner }} would like to start a trial of {{ services }} for {{ org }}.\n"
            "A full admin of {{ org }} must accept by {{ deadline }}; otherwise the request\n"
            "lapses. When accepting you choose whether {{ partner }} becomes a full admin or\n"
            "a provisioning admin of your organisation.\n",
        )
    },
    "trial_started": {
        "customer_admin": (
            "A Webex trial has started for {{ org }}",
            "{{ partner }} started a trial of {{ services }} ({{ licenses }} licenses each)\n"
            "for {{ org }}.\n",
        )
    },
    "welcome": {
        "customer_admin": (
            "Welcome to your Webex trial",
            "Your trial of {{ services }} for {{ org }} is ready: {{ licenses }} licenses for\n"
            "each service, until {{ ends_at }}.\n",
        )
    },
    "expiry_t_minus_7": {
        "customer_admin": (
            "Your Webex trial ends in {{ days_left }} days",
            "The trial of {{ services }} for {{ org }} ends on {{ ends_at }} ({{ days_left }}\n"
            "days left). To keep your services, buy them here: {{ buy_url }}\n",
        ),
        "partner_admin": (
            "Trial of {{ org }} expires in {{ days_left }} days",
            "Expiring services for {{ org }}: {{ services }}. Days left: {{ days_left }}\n"
            "(ends {{ ends_at }}).\n",
        ),
    },
    "expiry_today": {
        "customer_admin": (
            "Your Webex trial ends today",
            "The trial of {{ services }} for {{ org }} ends today. A {{ grace_days }}-day grace\n"
            "period follows in which it can still be bought: {{ buy_url }}\n",
        ),
        "partner_admin": (
            "Trial of {{ org }} expires today",
            "Expiring services for {{ org }}: {{ services }}. Days left: 0. It can be\n"
            "converted to paid during the {{ grace_days }}-day grace period.\n",
        ),
    },
    "services_ended": {
        "user": (
            "Your Webex trial services have ended",
            "The trial of {{ services }} at {{ org }} ended {{ days_after }} days ago. You can\n"
            "no longer use these trial services.\n",
        )
    },
    "consent_expired": {
        "partner_admin": (
            "Trial request for {{ org }} lapsed",
            "No full admin of {{ org }} accepted the trial within {{ consent_days }} days. The\n"
            "trial is cancelled and {{ org }} is removed from your customer list.\n",
        )
    },
}


async def recipients(s: AsyncSession, trial: Trial, kind: str) -> list[Recipient]:
    org = trial.customer_org_id
    if kind == "consent_request":  # TR-C1
        given = trial.customer_admin_email
        full = await org_emails(s, org, True, role="full")
        emails = [given] if given in full else [given, *[e for e in full if e != given]]
        return [Recipient(e, "customer_admin") for e in emails]
    if kind == "trial_started":  # TR-S7: every customer admin
        return [Recipient(e, "customer_admin") for e in await org_emails(s, org, True)]
    if kind == "welcome":  # TR-S5: the customer admin
        return [Recipient(trial.customer_admin_email, "customer_admin")]
    if kind in ("expiry_t_minus_7", "expiry_today"):  # TR-E1: every customer and partner admin
        customer = [Recipient(e, "customer_admin") for e in await org_emails(s, org, True)]
        partner = [
            Recipient(e, "partner_admin") for e in await org_emails(s, trial.partner_org_id, True)
        ]
        return customer + partner
    if kind == "services_ended":  # TR-E3: every user of the org
        return [Recipient(e, "user") for e in await org_emails(s, org, False)]
    if kind == "consent_expired":
        return [Recipient(trial.started_by, "partner_admin")]
    raise ApplicationError(f"unknown notice kind {kind}", type="NotFound", non_retryable=True)


def notice_key(trial_id: str, kind: str, round_: int, recipient: str) -> str:
    return f"trial:{trial_id}:{kind}:{round_}:{recipient}"


async def trial_and_names(s: AsyncSession, trial_id: str) -> tuple[Trial, dict[str, str]]:
    """The trial and the names its notices use: ``org`` (the customer) and ``partner``."""
    trial = await s.get(Trial, trial_id)
    if trial is None:
        raise not_found("trial", trial_id)
    org = await s.get(Org, trial.customer_org_id)
    partner = await s.get(Org, trial.partner_org_id)
    return trial, {
        "org": org.name if org else trial.customer_org_id,
        "partner": partner.name if partner else trial.partner_org_id,
    }


async def enqueue(db: Database, batch: NoticeBatch, workflow_id: str | None) -> list[str]:
    """Write the batch's rows (once: the key is unique) and return their keys."""
    now = datetime.now(UTC)
    async with db.session() as s:
        trial, names = await trial_and_names(s, batch.trial_id)
        context = {
            **names,
            "services": ", ".join(trial.services),
            "licenses": str(trial.license_count),
            **batch.context,
        }
        rows: list[dict[str, Any]] = []
        for r in await recipients(s, trial, batch.kind):
            subject, body = render(batch.kind, r.audience, context, TEMPLATES)
            rows.append(
                dict(
                    key=notice_key(trial.id, batch.kind, batch.round, r.email),
                    kind=batch.kind,
                    recipient=r.email,
                    subject=subject,
                    body=body,
                    due_at=batch.due_at,
                    workflow_id=workflow_id,
                    trial_id=trial.id,
                )
            )
        await put_many(s, rows, now=now)
        keys = [row["key"] for row in rows]
        return keys
