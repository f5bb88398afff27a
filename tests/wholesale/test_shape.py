"""The one shape (issue 8) as wholesale has it: the read model is written only by the
workflow's activities (PX-3), one refusal type from rule to HTTP body and CLI exit, and a
contract that bounds every field and keeps stored payloads open to later fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.wholesale.activities import WholesaleActivities
from models.common.contract import activity_names
from models.common.refusal import RuleError, Violation
from models.wholesale import problems as P
from models.wholesale import provisioning
from models.wholesale.contract import (
    ComplianceCleared,
    CustomerChange,
    CustomerInput,
    Outcome,
    WholesaleActivity,
    WholesalePolicy,
)


async def test_px_3_accepted_change_shown_by_the_workflows_activity(wh):
    """PX-3: `updating`/`deleting` reach the read model through the workflow's own
    activity (wholesale_mark_changing); a removal shown is never taken back by a late
    `updating`, and the customer's other fields are left as they were."""
    cid = await wh.customer(wait_for=("provisioned",))
    before = await wh.row(cid)
    await provisioning.mark_changing(wh.db, cid, "updating")
    row = await wh.row(cid)
    assert row.status == "updating"
    assert row.packages == before.packages and row.org_id == before.org_id
    assert row.status_changed_at > before.status_changed_at
    await provisioning.mark_changing(wh.db, cid, "deleting")
    await provisioning.mark_changing(wh.db, cid, "updating")  # late: ignored
    assert (await wh.row(cid)).status == "deleting"
    with pytest.raises(ApplicationError) as err:
        await provisioning.mark_changing(wh.db, cid, "provisioned")
    assert err.value.non_retryable


def test_px_3_every_activity_the_workflow_names_is_served():
    """The activity namespace of the contract and the worker's activities agree by name."""
    served = {
        activity._Definition.must_from_callable(getattr(WholesaleActivities, n)).name
        for n in dir(WholesaleActivities)
        if activity._Definition.from_callable(getattr(WholesaleActivities, n)) is not None
    }
    assert activity_names(WholesaleActivity) == served
    assert WholesaleActivity.mark_changing.name == "wholesale_mark_changing"


def test_wh_c1_refusal_round_trips_through_temporal_details():
    """One refusal type: rule, field, message, errorCode and status survive the trip as a
    non-retryable ApplicationError and come back intact; a workflow's refuse() details
    (rule, field, message only) get the API's code from the caller's defaults."""
    err = RuleError(
        [
            P.conflict(P.CUSTOMER_EXISTS, "WH-C1", "externalId", "a customer has this ID"),
            P.bad("WH-P1", "packages", "a package is listed twice"),
        ]
    )
    app = err.to_application_error()
    assert app.non_retryable and app.type == "RuleViolation"
    back = RuleError.from_failure(app)
    assert back is not None and back.violations == err.violations
    assert back.status == 400  # the request itself is wrong: 400 before 409
    workflow_refusal = ApplicationError(
        "PX-3 (status): busy",
        {"rule": "PX-3", "field": "status", "message": "busy"},
        type="RuleViolation",
        non_retryable=True,
    )
    got = RuleError.from_failure(workflow_refusal, code=P.CUSTOMER_BUSY, status=409)
    assert got is not None
    assert got.violations == [Violation("PX-3", "status", "busy", P.CUSTOMER_BUSY, 409)]
    assert str(got) == "PX-3 (status): busy" and got.status == 409
    assert RuleError.from_failure(ApplicationError("boom", type="Other")) is None


async def test_wh_c1_refusal_http_body_unchanged(wh):
    """The HTTP body of a refusal: status, first errorCode, the joined description, and
    one item per violation with its errorCode, description and field."""
    r = await wh.post_customer(provisioningId="no-such-template")
    assert r.status_code == 409
    body = r.json()
    assert body["errorCode"] == P.TEMPLATE
    assert body["description"] == "WH-P2 (provisioningId): no onboarding template with this ID"
    assert [(e["errorCode"], e["field"]) for e in body["errors"]] == [
        (P.TEMPLATE, "provisioningId")
    ]


def test_wh_c5_commands_bounded_and_stored_payloads_open():
    """Commands refuse unknown fields and values their columns cannot hold; stored
    payloads ignore fields a later release may add."""
    with pytest.raises(ValidationError):
        CustomerChange.model_validate({"packages": ["webex_suite"], "colour": "red"})
    with pytest.raises(ValidationError):
        CustomerChange.model_validate({"packages": ["fax"]})
    with pytest.raises(ValidationError):
        CustomerChange.model_validate({"packages": ["webex_suite"], "external_id": "x" * 257})
    with pytest.raises(ValidationError):
        CustomerChange.model_validate({"packages": ["webex_suite"], "address": {"city": "y" * 51}})
    with pytest.raises(ValidationError):
        CustomerChange.model_validate(
            {"packages": ["webex_suite"], "provisioning_parameters": {"x": "z" * 20_000}}
        )
    with pytest.raises(ValidationError):
        ComplianceCleared.model_validate({"by": "ops", "note": "n" * 2001})
    inp = CustomerInput.model_validate(
        {
            "customer_id": "c1",
            "partner_org_id": "p1",
            "policy": {"later_setting": 1},
            "later_field": True,
        }
    )
    assert inp.policy == WholesalePolicy()
    with pytest.raises(ValidationError):
        CustomerInput.model_validate(
            {"customer_id": "c" * 257, "partner_org_id": "p1", "policy": {}}
        )
    assert Outcome.model_validate({"state": "error", "new": 1}).state == "error"
