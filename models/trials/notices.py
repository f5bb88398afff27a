"""Who is owed which trial notice (TR-C1, TR-S5, TR-S7, TR-E1, TR-E3), and its words.

The rows go through the shared outbox (models/common/outbox.py) under unique keys
``trial:<trial>:<kind>:<round>:<recipient>``, so each is written exactly once. A step's few
notices are written and sent in the step's transaction (``send_in``); TR-E3's, to every user,
in batches, one SMTP connection and one transaction per batch (``deliver_kind``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, func, literal, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.db import Database
from models.common.failures import not_found
from models.common.mail import Mailer, Outgoing
from models.common.outbox import NoticeView, Recipient, Templates, org_emails, put_many, render
from models.common.tables import Notice, Org, OrgUser
from models.trials.contract import NoticeBatch
from models.trials.tables import Trial

# Notices sent per SMTP connection and per transaction (TR-E3 mails every user of an org).
BATCH = 200

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
        admins = (
            await s.exec(
                select(OrgUser.org_id, OrgUser.email)
                .where(
                    col(OrgUser.org_id).in_([org, trial.partner_org_id]),
                    col(OrgUser.admin_role).is_not(None),
                )
                .order_by(col(OrgUser.email))
            )
        ).all()
        customer = [Recipient(e, "customer_admin") for o, e in admins if o == org]
        partner = [Recipient(e, "partner_admin") for o, e in admins if o != org]
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
    return trial, await _names(s, trial)


async def _names(s: AsyncSession, trial: Trial, org: Org | None = None) -> dict[str, str]:
    """The customer org's and the partner's names (``org``: the customer org, if loaded)."""
    wanted = [trial.partner_org_id] + ([] if org else [trial.customer_org_id])
    names = dict((await s.exec(select(Org.id, Org.name).where(col(Org.id).in_(wanted)))).all())
    if org is not None:
        names[org.id] = org.name
    return {
        "org": names.get(trial.customer_org_id, trial.customer_org_id),
        "partner": names.get(trial.partner_org_id, trial.partner_org_id),
    }


async def _context(
    s: AsyncSession, trial: Trial, batch: NoticeBatch, org: Org | None = None
) -> dict[str, str]:
    return {
        **await _names(s, trial, org),
        "services": ", ".join(trial.services),
        "licenses": str(trial.license_count),
        **batch.context,
    }


async def _rows(
    s: AsyncSession,
    trial: Trial,
    batch: NoticeBatch,
    workflow_id: str | None,
    org: Org | None = None,
) -> list[dict[str, Any]]:
    """The batch's outbox rows, one per recipient; each audience's text is rendered once."""
    context = await _context(s, trial, batch, org)
    texts: dict[str, tuple[str, str]] = {}
    rows: list[dict[str, Any]] = []
    for r in await recipients(s, trial, batch.kind):
        if r.audience not in texts:
            texts[r.audience] = render(batch.kind, r.audience, context, TEMPLATES)
        subject, body = texts[r.audience]
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
    return rows


async def enqueue(db: Database, batch: NoticeBatch, workflow_id: str | None) -> list[str]:
    """Write the batch's rows (once: the key is unique) and return their keys."""
    async with db.session() as s:
        trial = await s.get(Trial, batch.trial_id)
        if trial is None:
            raise not_found("trial", batch.trial_id)
        return await enqueue_in(s, trial, batch, workflow_id)


async def enqueue_in(
    s: AsyncSession,
    trial: Trial,
    batch: NoticeBatch,
    workflow_id: str | None,
    org: Org | None = None,
) -> list[str]:
    """``enqueue`` inside a step's transaction."""
    rows = await _rows(s, trial, batch, workflow_id, org)
    await put_many(s, rows, now=datetime.now(UTC))
    return [row["key"] for row in rows]


# One statement whatever the number of rows (arrays, one text): a multi-VALUES or an
# executemany-with-RETURNING statement is compiled, or its text parsed, afresh every time.
_SEND_IN = text(
    "INSERT INTO notice (key, kind, recipient, subject, body, due_at, workflow_id, trial_id,"
    " created_at, sent_at, transport)"
    " SELECT t.key, :kind, t.recipient, t.subject, t.body, :due_at, :workflow_id, :trial_id,"
    " :now, :now, :transport"
    " FROM unnest(CAST(:keys AS text[]), CAST(:recipients AS text[]),"
    " CAST(:subjects AS text[]), CAST(:bodies AS text[])) AS t(key, recipient, subject, body)"
    " ON CONFLICT (key) DO NOTHING RETURNING key"
)


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first = rows[0]
    return {
        "kind": first["kind"],
        "due_at": first["due_at"],
        "workflow_id": first["workflow_id"],
        "trial_id": first["trial_id"],
        "now": first["sent_at"],
        "transport": first["transport"],
        "keys": [r["key"] for r in rows],
        "recipients": [r["recipient"] for r in rows],
        "subjects": [r["subject"] for r in rows],
        "bodies": [r["body"] for r in rows],
    }


async def send_in(
    s: AsyncSession,
    mailer: Mailer,
    trial: Trial,
    batch: NoticeBatch,
    workflow_id: str | None,
    org: Org | None = None,
) -> list[NoticeView]:
    """A step's notices (a few admins) inside its transaction: the rows are written already
    marked sent, the ones this attempt wrote are sent over one connection, and the step
    commits after. A relay that fails rolls the whole step back; a second attempt at once
    waits on the first one's keys and sends only what the first did not write. (A crash
    between the hand-off and the commit resends: the Message-ID is the outbox key.)"""
    now = datetime.now(UTC)
    rows = [
        r | dict(created_at=now, sent_at=now, transport=mailer.transport)
        for r in await _rows(s, trial, batch, workflow_id, org)
    ]
    if not rows:
        return []
    written = set((await s.exec(_SEND_IN, params=_columns(rows))).scalars())  # type: ignore[call-overload]  # text(): exec() runs it
    new = [r for r in rows if r["key"] in written]
    if new:
        await mailer.send_many(
            [Outgoing(r["recipient"], r["subject"], r["body"], r["key"]) for r in new]
        )
    sent_at: dict[str, datetime] = {r["key"]: now for r in new}
    if len(new) < len(rows):  # written by an earlier attempt: as they are
        q = select(Notice.key, Notice.sent_at).where(
            col(Notice.key).in_([r["key"] for r in rows if r["key"] not in written])
        )
        sent_at.update({k: at for k, at in (await s.exec(q)).all() if at is not None})
    return [
        NoticeView(kind=r["kind"], recipient=r["recipient"], sent_at=sent_at.get(r["key"]))
        for r in rows
    ]


async def user_count(s: AsyncSession, trial: Trial) -> int:
    """How many users the trial's org has (TR-E3's audience)."""
    q = select(func.count()).where(col(OrgUser.org_id) == trial.customer_org_id)
    return int((await s.exec(q)).one())


async def enqueue_users(
    s: AsyncSession, trial: Trial, batch: NoticeBatch, workflow_id: str | None
) -> None:
    """TR-E3: one row per user of the org, in one statement however many users it has
    (every user gets the same text); a user who already has the row keeps it."""
    subject, body = render(batch.kind, "user", await _context(s, trial, batch), TEMPLATES)
    prefix = notice_key(trial.id, batch.kind, batch.round, "")
    users = sa_select(
        literal(prefix, String) + col(OrgUser.email),
        literal(batch.kind, String),
        col(OrgUser.email),
        literal(trial.id, String),
        literal(workflow_id, String),
        literal(subject, String),
        literal(body, String),
        literal(batch.due_at, DateTime(timezone=True)),
        literal(datetime.now(UTC), DateTime(timezone=True)),
    ).where(col(OrgUser.org_id) == trial.customer_org_id)
    columns = [
        "key", "kind", "recipient", "trial_id", "workflow_id", "subject", "body", "due_at",
        "created_at",
    ]  # fmt: skip
    await s.exec(
        insert(Notice).from_select(columns, users).on_conflict_do_nothing(index_elements=["key"])
    )


async def _send(s: AsyncSession, mailer: Mailer, rows: Sequence[Notice]) -> None:
    """Send ``rows`` (locked by the caller) over one connection and mark them sent (the
    objects too)."""
    if not rows:
        return
    transport = await mailer.send_many(
        [Outgoing(r.recipient, r.subject, r.body, r.key) for r in rows]
    )
    now = datetime.now(UTC)
    await s.exec(
        update(Notice)
        .where(col(Notice.id).in_([r.id for r in rows]))
        .values(sent_at=now, transport=transport)
        .execution_options(synchronize_session=False)
    )
    for r in rows:  # as written (not a change for the session to flush again)
        set_committed_value(r, "sent_at", now)
        set_committed_value(r, "transport", transport)


def _unsent() -> Any:
    """Unsent rows, locked while they are sent (two attempts never both send one)."""
    return select(Notice).where(col(Notice.sent_at).is_(None)).with_for_update(skip_locked=True)


async def deliver_kind(
    db: Database,
    mailer: Mailer,
    trial_id: str,
    kind: str,
    round_: int,
    *,
    after: str = "",
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Send every unsent notice of one kind of a trial, in key order after ``after``, a
    batch per SMTP connection and transaction, calling ``progress(last key, sent so far)``
    after each full one (a last, short batch needs no progress kept); return how many it
    sent."""
    prefix = notice_key(trial_id, kind, round_, "")
    last, sent = max(after, prefix), 0
    while True:
        async with db.session() as s:
            rows = (
                await s.exec(
                    _unsent()
                    .where(
                        col(Notice.trial_id) == trial_id,
                        col(Notice.kind) == kind,
                        col(Notice.key).startswith(prefix),
                        col(Notice.key) > last,
                    )
                    .order_by(col(Notice.key))
                    .limit(BATCH)
                )
            ).all()
            await _send(s, mailer, rows)
        if rows:
            last, sent = rows[-1].key, sent + len(rows)
        if len(rows) < BATCH:  # the last one
            return sent
        if progress is not None:  # more may follow
            progress(last, sent)


async def views(
    s: AsyncSession, trial_id: str, kind: str, limit: int
) -> tuple[list[NoticeView], int]:
    """The first ``limit`` notices of one kind of a trial, by key, and how many there are."""
    q = (
        sa_select(col(Notice.kind), col(Notice.recipient), col(Notice.sent_at), func.count().over())
        .where(col(Notice.trial_id) == trial_id, col(Notice.kind) == kind)
        .order_by(col(Notice.key))
        .limit(limit)
    )
    rows = (await s.exec(q)).all()  # type: ignore[call-overload]  # a Core select: exec() runs it
    found = [NoticeView(kind=k, recipient=r, sent_at=at) for k, r, at, _ in rows]
    return found, (rows[0][3] if rows else 0)
