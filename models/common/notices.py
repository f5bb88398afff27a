"""The notice outbox: who is owed which email (TR-C1, TR-S5, TR-S7, TR-E1, TR-E3), rendered
from templates, written once under a unique key, then sent and marked sent one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.db import Database
from models.common.mail import Mailer
from models.common.tables import Notice, Org, OrgUser, Trial
from models.trials.contract import NoticeBatch, NoticeView

_jinja = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

# kind -> audience -> (subject, body). Audiences: customer_admin, partner_admin, user, ...
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
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


def render(
    kind: str,
    audience: str,
    context: dict[str, str],
    templates: dict[str, dict[str, tuple[str, str]]] = TEMPLATES,
) -> tuple[str, str]:
    """The (subject, body) of one kind of notice for one audience, from ``templates``."""
    subject, body = templates[kind][audience]
    return (
        _jinja.from_string(subject).render(**context).strip(),
        _jinja.from_string(body).render(**context),
    )


@dataclass(frozen=True)
class Recipient:
    email: str
    audience: str


async def org_emails(s: AsyncSession, org_id: str, admins_only: bool, role: str | None = None):
    """The org's users (its admins only, or those of one admin role), by email."""
    q = select(OrgUser.email).where(OrgUser.org_id == org_id)
    if role:
        q = q.where(OrgUser.admin_role == role)
    elif admins_only:
        q = q.where(col(OrgUser.admin_role).is_not(None))
    return list((await s.exec(q.order_by(OrgUser.email))).all())


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
    raise ValueError(f"unknown notice kind {kind}")


def notice_key(trial_id: str, kind: str, round_: int, recipient: str) -> str:
    return f"trial:{trial_id}:{kind}:{round_}:{recipient}"


async def put(
    s: AsyncSession,
    *,
    key: str,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    due_at: datetime,
    workflow_id: str | None,
    trial_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Write one outbox row unless its key is already there (any lifecycle may use this;
    then ``deliver(keys)`` sends what is unsent)."""
    await put_many(
        s,
        [
            dict(
                key=key,
                kind=kind,
                recipient=recipient,
                subject=subject,
                body=body,
                due_at=due_at,
                workflow_id=workflow_id,
                trial_id=trial_id,
            )
        ],
        now=now,
    )


async def put_many(
    s: AsyncSession, rows: list[dict[str, Any]], now: datetime | None = None
) -> None:
    """Write outbox rows in one statement; a key already there is left as it is."""
    if not rows:
        return
    created_at = now or datetime.now(UTC)
    await s.exec(
        insert(Notice)
        .values([{"trial_id": None, **row, "created_at": created_at} for row in rows])
        .on_conflict_do_nothing(index_elements=["key"])
    )


async def trial_and_names(s: AsyncSession, trial_id: str) -> tuple[Trial, dict[str, str]]:
    """The trial and the names its notices use: ``org`` (the customer) and ``partner``."""
    trial = await s.get(Trial, trial_id)
    if trial is None:
        raise LookupError(f"no trial {trial_id}")
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
            subject, body = render(batch.kind, r.audience, context)
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


async def deliver(db: Database, mailer: Mailer, keys: list[str]) -> list[NoticeView]:
    """Send each unsent notice and mark it sent, one transaction per notice.

    The row is locked while it is sent, so two attempts cannot both send it; a crash after
    the SMTP hand-off but before the commit can resend, which is why the Message-ID is the
    outbox key: receiving servers drop the duplicate.
    """
    for key in keys:
        async with db.session() as s:
            row = (
                await s.exec(
                    select(Notice)
                    .where(Notice.key == key, col(Notice.sent_at).is_(None))
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                continue
            row.transport = await mailer.send(row.recipient, row.subject, row.body, row.key)
            row.sent_at = datetime.now(UTC)
            s.add(row)
    async with db.session() as s:
        rows = (await s.exec(select(Notice).where(col(Notice.key).in_(keys)))).all()
        by_key = {r.key: r for r in rows}
        return [
            NoticeView(
                kind=by_key[k].kind, recipient=by_key[k].recipient, sent_at=by_key[k].sent_at
            )
            for k in keys
            if k in by_key
        ]
