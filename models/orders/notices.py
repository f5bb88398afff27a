"""The emails an order owes (SO-1, SO-2, SO-4, SO-7, SO-10, PX-5), written to the shared
outbox (models/common/outbox.py) in the transaction of the transition that owes them, under
a unique key, then delivered once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.outbox import org_emails, put_many, render
from models.orders.contract import OrderPolicy
from models.orders.rules import make_setup_token
from models.orders.tables import OrderRecord

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "order_provisioning": {
        "contact": (
            "Provisioning information required for order {{ order_id }}",
            "Your order {{ order_id }} ({{ offer }}: {{ lines }}) starts on {{ start }}.\n"
            "Set it up now: {{ link }}\n"
            "The link is valid until {{ expires }}; after that the order is closed unless it\n"
            "is provisioned. You can close the set-up wizard at any time: nothing is saved and\n"
            "you start again from this link.\n",
        )
    },
    "order_handoff": {
        "contact": (
            "Provisioning information required for order {{ order_id }}",
            "You were asked to finish the set-up of order {{ order_id }} ({{ offer }}:\n"
            "{{ lines }}). Set it up now: {{ link }}\n"
            "The link is valid until {{ expires }}.\n",
        )
    },
    "order_customer_setup": {
        "contact": (
            "Set up your Webex services for order {{ order_id }}",
            "Your partner has mapped order {{ order_id }} to your organisation. Set up the\n"
            "services ({{ lines }}) here: {{ link }}\n"
            "The link is valid until {{ expires }}.\n",
        )
    },
    "order_rep_alert": {
        "rep": (
            "Order {{ order_id }}: set-up has not started",
            "The provisioning email of order {{ order_id }} ({{ offer }}) went out on\n"
            "{{ sent }} and set-up has not started. Please contact the customer.\n",
        )
    },
    "order_closed": {
        "partner": (
            "Order {{ order_id }} was closed: not provisioned in time",
            "Order {{ order_id }} ({{ offer }}: {{ lines }}) was not provisioned within\n"
            "{{ days }} days of the provisioning email ({{ sent }}). It is closed.\n",
        )
    },
    "order_cancelled": {
        "partner": (
            "Order {{ order_id }} was cancelled",
            "Order {{ order_id }} ({{ offer }}: {{ lines }}) was cancelled. {{ reason }}\n",
        )
    },
    "order_provisioned": {
        "contact": (
            "Order {{ order_id }} is provisioned: billing has started",
            "The subscription of order {{ order_id }} is active. Provisioned and billed:\n"
            "{{ provisioned }}. Set up later: {{ deferred }}.\n"
            "The order summary (PDF) is available from the order.\n",
        )
    },
    "order_full_admin_request": {
        "customer_admin": (
            "Your partner asks for full admin rights",
            "The partner that set up order {{ order_id }} asks to become a full admin of\n"
            "your organisation (it is a provisioning admin now).\n",
        )
    },
}


def lines_text(order: OrderRecord) -> str:
    return ", ".join(f"{ln['service']} x {ln['quantity']}" for ln in order.lines)


def notice_key(order_id: str, kind: str, round_: int, recipient: str) -> str:
    key = f"order:{order_id}:{kind}:{round_}:{recipient}"
    if len(key) <= 300:
        return key
    return f"order:{order_id}:{kind}:{round_}:{hashlib.sha256(recipient.encode()).hexdigest()}"


def setup_link(order: OrderRecord, policy: OrderPolicy, key: str) -> tuple[str, str]:
    """(link, expiry text): the link is signed and expires when PX-5 closes the order."""
    assert order.close_at is not None
    token = make_setup_token(key, order.id, order.contact_version, order.close_at)
    return f"{policy.setup_url}?token={quote(token)}", f"{order.close_at:%Y-%m-%d %H:%M} UTC"


async def owe(
    s: AsyncSession,
    order: OrderRecord,
    kind: str,
    recipients: list[tuple[str, str]],
    *,
    due_at: datetime,
    round_: int = 0,
    context: dict[str, Any] | None = None,
) -> list[str]:
    """Write one outbox row per (recipient, audience); returns the keys to deliver."""
    ctx = {
        "order_id": order.id,
        "offer": order.offer,
        "lines": lines_text(order),
        "start": f"{order.requested_start_date:%Y-%m-%d}",
        **{k: str(v) for k, v in (context or {}).items()},
    }
    rows: list[dict[str, Any]] = []
    for email, audience in recipients:
        subject, body = render(kind, audience, ctx, TEMPLATES)
        rows.append(
            dict(
                key=notice_key(order.id, kind, round_, email),
                kind=kind,
                recipient=email,
                subject=subject,
                body=body,
                due_at=due_at,
                workflow_id=order.workflow_id,
            )
        )
    await put_many(s, rows)
    return [r["key"] for r in rows]


async def partner_recipients(s: AsyncSession, order: OrderRecord) -> list[tuple[str, str]]:
    """PX-5 "the partner is told": the admins of the org that placed the order (and of the
    mapped partner org), else the contact."""
    emails = await org_emails(s, order.submitted_by_org_id, True)
    if order.partner_org_id and order.partner_org_id != order.submitted_by_org_id:
        emails += [e for e in await org_emails(s, order.partner_org_id, True) if e not in emails]
    return [(e, "partner") for e in (emails or [order.contact_email])]
