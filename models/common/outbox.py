"""The notice outbox every lifecycle shares: a notice is rendered from its lifecycle's
templates, written once under a unique key (``put``/``put_many``), then sent and marked sent
one by one (``deliver``). Who is owed which notice is each lifecycle's own business
(models/<lifecycle>/notices.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from pydantic import Field
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.contract import Stored
from models.common.db import Database
from models.common.mail import Mailer
from models.common.tables import Notice, OrgUser

_jinja = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

# kind -> audience -> (subject, body)
Templates = dict[str, dict[str, tuple[str, str]]]


class NoticeView(Stored):
    """One notice as a lifecycle's status shows it (the outbox row's public part)."""

    kind: str = Field(max_length=48)
    recipient: str = Field(max_length=254)
    sent_at: datetime | None = None


def render(
    kind: str, audience: str, context: dict[str, str], templates: Templates
) -> tuple[str, str]:
    """The (subject, body) of one kind of notice for one audience, from ``templates``."""
    subject, body = templates[kind][audience]
    return _template(subject).render(**context).strip(), _template(body).render(**context)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    """A template compiled once per process (compiling is most of a render's cost)."""
    return _jinja.from_string(source)


@dataclass(frozen=True)
class Recipient:
    email: str
    audience: str


async def org_emails(
    s: AsyncSession, org_id: str, admins_only: bool, role: str | None = None
) -> list[str]:
    """The org's users (its admins only, or those of one admin role), by email."""
    q = select(OrgUser.email).where(OrgUser.org_id == org_id)
    if role:
        q = q.where(OrgUser.admin_role == role)
    elif admins_only:
        q = q.where(col(OrgUser.admin_role).is_not(None))
    return list((await s.exec(q.order_by(col(OrgUser.email)))).all())


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
    # The rows as parameters, not as VALUES: a multi-VALUES statement is compiled afresh on
    # every call (SQLAlchemy cannot cache it; 5 rows took 28 ms); this one compiles once.
    await s.exec(
        insert(Notice).on_conflict_do_nothing(index_elements=["key"]),
        params=[{"trial_id": None, **row, "created_at": created_at} for row in rows],
    )


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
