"""Records a wholesale customer's history for the replay guard (tests/test_replay.py)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from models.wholesale_flow import ComplianceCleared
from tests.test_replay import save_history
from tests.wholesale.test_compliance import _held
from workflows.wholesale import WholesaleCustomerProvisioning


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_wholesale_history(wh) -> None:
    """A compliance hold, two rechecks, an operator's release, then provisioned."""
    cid = await _held(wh)
    await wh.env.sleep(timedelta(hours=13))
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.compliance_cleared, ComplianceCleared(by="ops")
    )
    await wh.wait(cid, "provisioned")
    await save_history("wholesale_held_cleared_provisioned", wh.handle(cid))
