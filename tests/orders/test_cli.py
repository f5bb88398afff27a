"""`lifecycles order ...`: --json output, refusals naming rule and field with exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import date

from models.orders.tables import OrderRecord
from tests.cli_forks import lifecycles
from tests.orders.conftest import Orders


def _run(orders: Orders, database_url: str, *args: str) -> subprocess.CompletedProcess:
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": orders.env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": orders.task_queue,
        "LIFECYCLES_METRICS_BIND": "",
    }
    return lifecycles(list(args), env=envvars, timeout=60)  # a process of its own, forked


async def test_so_1_cli_create_status_list_setup_cancel(orders: Orders, database_url: str):
    """SO-1 through the CLI: an unknown offer is refused naming SO-1 (offer), exit 2, nothing
    written; a good order prints JSON; status, list and a wizard step answer JSON; cancel
    ends it (PX-5 refuses a resend afterwards, exit 2)."""

    async def cli(*args: str) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(_run, orders, database_url, *args)

    common = [
        "order",
        "create",
        "--order-id",
        "CLI-1",
        "--start-date",
        date.today().isoformat(),
        "--contact",
        "setup@acme.test",
        "--line",
        "meetings=10",
        "--partner",
        orders.partner,
        "--json",
    ]
    bad = await cli(*common, "--offer", "A-NOPE")
    assert bad.returncode == 2 and "refused: SO-1 (offer)" in bad.stderr, bad.stderr
    assert await orders.rows(OrderRecord) == []
    ok = await cli(*common, "--offer", "A-WX")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {
        "order_id": "CLI-1",
        "workflow_id": "order-CLI-1",
        "created": True,
    }
    await orders.until(orders.handle("CLI-1"), lambda s: s.state == "awaiting_setup")
    st = json.loads((await cli("order", "status", "CLI-1", "--json")).stdout)
    assert st["state"] == "awaiting_setup" and st["notices"][0]["kind"] == "order_provisioning"
    listed = json.loads((await cli("order", "list", "--offer", "A-WX", "--json")).stdout)
    assert [r["id"] for r in listed] == ["CLI-1"]
    assert (await cli("order", "setup", "begin", "CLI-1", "--json")).returncode == 0
    step = await cli(
        "order", "setup", "step", "CLI-1", "purpose", "--answers", '{"who": "me"}', "--json"
    )
    assert step.returncode == 2 and "refused: SO-11 (purpose)" in step.stderr, step.stderr
    assert (await cli("order", "cancel", "CLI-1", "--json")).returncode == 0
    again = await cli("order", "resend", "CLI-1")
    assert again.returncode != 0
