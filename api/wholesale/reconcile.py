"""Customers whose workflow never started (issue 9): a row is written, then its workflow is
started; if the API process dies in between, the row would stay ``provisioning`` with no
workflow. The POST itself deletes its row when the start fails (and answers 503), so only a
crash leaves such a row; ``reconcile_customers`` starts the missing workflows. Starting is
idempotent (a running workflow is found, a closed one is left closed), so it is safe to run
from several API processes and the CLI at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlmodel import col, select
from temporalio.client import Client

from models.common.db import Database
from models.wholesale.tables import WholesaleCustomer
from workers.settings import Settings
from workers.starter import start_customer

log = structlog.get_logger(__name__)

RECONCILE_AFTER = timedelta(seconds=60)  # older than any POST still in flight
RECONCILE_EVERY = 60.0  # seconds, in the API process


async def unstarted_customers(
    db: Database, older_than: timedelta = RECONCILE_AFTER, limit: int = 500
) -> list[WholesaleCustomer]:
    """Rows still ``provisioning`` whose last write is older than ``older_than``: a
    workflow that runs writes its outcome within seconds, so these may have none."""
    before = datetime.now(UTC) - older_than
    async with db.session() as s:
        rows = await s.exec(
            select(WholesaleCustomer)
            .where(
                WholesaleCustomer.status == "provisioning",
                col(WholesaleCustomer.status_changed_at) < before,
            )
            .order_by(col(WholesaleCustomer.created_at))
            .limit(limit)
        )
        return list(rows.all())


async def reconcile_customers(
    client: Client,
    db: Database,
    settings: Settings,
    task_queue: str,
    older_than: timedelta = RECONCILE_AFTER,
) -> int:
    """Start the workflow of every customer that may have none; returns how many rows were
    looked at. A workflow already running (e.g. waiting for a PX-4 approval) is untouched."""
    rows = await unstarted_customers(db, older_than)
    for c in rows:
        await start_customer(
            client,
            customer_id=c.id,
            partner_org_id=c.partner_org_id,
            sub_partner_org_id=c.sub_partner_org_id,
            policy=settings.wholesale_policy(),
            task_queue=task_queue,
            packages=[p["name"] for p in c.packages],
        )
    if rows:
        log.info("wholesale customers reconciled", customers=len(rows))
    return len(rows)
