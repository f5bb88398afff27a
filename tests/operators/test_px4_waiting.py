"""PX-4 (issue 15): a wholesale customer waiting for its org admin's approval says so. The
API still shows `provisioning` (Cisco's status), now with errorCode 4312 saying what it waits
for, as the compliance hold shows 4300; the workflow's status, its current details in the
Temporal UI and `lifecycles timeline` name the approval and its next deadline."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from typer.testing import CliRunner

from models.common.orgs import create_customer_org
from models.wholesale.contract import AttachDecision
from models.wholesale.tables import OrgDomain
from scripts.cli.main import app as cli
from workers.settings import get_settings
from workflows.wholesale.workflow import WholesaleCustomerProvisioning

WAITING = {
    "errorCode": 4312,
    "description": "PX-4: waiting for the org admin's approval (a verified domain)",
}


@pytest.fixture
def cli_env(database_url: str, env, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("LIFECYCLES_DATABASE_URL", database_url)
    monkeypatch.setenv("LIFECYCLES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_NAMESPACE", env.client.namespace)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_px4_waiting_customer_says_it_waits_for_the_org_admins_approval(wh, cli_env):
    async with wh.db.session() as s:
        big = await create_customer_org(s, "Verified Co", [("boss@verified.test", "full")], [])
        s.add(OrgDomain(org_id=big, domain="verified.test", verified=True))
    cid = await wh.customer(orgId=big, customerInfo=None)
    st = await wh.wait_state(cid, "pending_org_approval")
    assert st.approval_asked_at is not None
    assert st.next_deadline_kind == "attach_approval_reminder"
    assert st.waiting_for.startswith("the org admin's approval (signal `org_attach_decision`")

    row = await wh.wait(cid, "provisioning")
    assert row.errors == [WAITING]
    got = await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    assert got.status_code == 200
    assert (got.json()["status"], got.json()["errors"]) == ("provisioning", [WAITING])

    meta = await wh.handle(cid).query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = meta.current_details.split("\n\n")
    assert details[2].startswith("Waiting for: the org admin's approval")
    assert f"Org admin's approval asked {st.approval_asked_at:%Y-%m-%d %H:%M} UTC (PX-4)" in (
        meta.current_details
    )

    out = await asyncio.to_thread(CliRunner().invoke, cli, ["timeline", cid, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert (data["lifecycle"], data["state"]) == ("wholesale", "provisioning")
    moments = {m["kind"]: m for m in data["moments"]}
    asked = datetime.fromisoformat(moments["approval_asked"]["at"])
    assert asked == st.approval_asked_at and moments["approval_asked"]["status"] == "done"
    reminder = moments["attach_approval_reminder"]
    assert reminder["status"] == "next"
    assert datetime.fromisoformat(reminder["at"]) - asked == timedelta(days=3)
    sent = [g for m in data["moments"] for g in m["notices"]]
    assert sent == [
        {
            "kind": "wholesale_attach_approval",
            "count": 1,
            "sent": 1,
            "recipients": ["boss@verified.test"],
        }
    ]

    # approved: provisioned, and the waiting code is gone
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.org_attach_decision,
        AttachDecision(approved=True, by="boss@verified.test"),
    )
    done = await wh.wait(cid, "provisioned")
    assert done.errors == []
