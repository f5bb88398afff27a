"""Issue 9, wholesale and API: faults and hostile callers. Temporal down on POST (503 with
Retry-After, no orphan row; a reconciler for a crash), no existence oracles across partners
and sub-partners, no personal data in SQL errors, and Cisco's spec: Webex-shaped ids,
`Allow` on 405, free-string parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.errors import crash_fields
from api.wholesale import customers as customer_routes
from api.wholesale.reconcile import reconcile_customers
from models.common.orgs import create_customer_org
from models.wholesale import problems as P
from models.wholesale import provisioning
from models.wholesale.contract import ProvisionStep, customer_workflow_id
from models.wholesale.tables import WholesaleCustomer
from tests.webex import webex_id


class TemporalDown:
    """A client whose every call fails as an unreachable Temporal does."""

    def _fail(self, *args, **kwargs):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    async def start_workflow(self, *args, **kwargs):
        self._fail()

    async def execute_update(self, *args, **kwargs):
        self._fail()

    def get_workflow_handle(self, *args, **kwargs):
        return self


async def _rows(wh, external_id: str) -> list[WholesaleCustomer]:
    async with wh.db.session() as s:
        q = select(WholesaleCustomer).where(WholesaleCustomer.external_id == external_id)
        return list((await s.exec(q)).all())


@pytest.fixture
def down_http(wh, wh_settings, database_url, mailer, task_queue):
    app = create_app(
        wh_settings, database_url, client=cast(Client, TemporalDown()), db=wh.db, mailer=mailer,
        task_queue=task_queue,
    )  # fmt: skip
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_px_3_temporal_down_post_answers_503_and_keeps_no_row(wh, down_http):
    """PX-3 with Temporal down: 503 with Retry-After, no `provisioning` row left behind; the
    same POST once Temporal is back is accepted and provisions, PUT/DELETE say 503 too."""
    body = wh.customer_body()
    async with down_http as http:
        r = await http.post("/v1/wholesale/customers", json=body, headers=wh.auth())
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "5"
        assert r.json()["errorCode"] == P.UNAVAILABLE
        assert await _rows(wh, body["externalId"]) == []
        cid = await wh.customer(wait_for=("provisioned",))
        r = await http.put(
            f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_suite"]},
            headers=wh.auth(),
        )  # fmt: skip
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        r = await http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
        assert r.status_code == 503
    r = await wh.http.post("/v1/wholesale/customers", json=body, headers=wh.auth())
    assert r.status_code == 202, r.text
    [row] = await _rows(wh, body["externalId"])
    await wh.wait(row.id, "provisioned")


async def test_px_3_reconciler_starts_a_crashed_requests_workflow(
    wh, monkeypatch, wh_settings, task_queue
):
    """PX-3: a row whose workflow never started (the API died between commit and start)
    is provisioned by the reconciler; a second pass starts nothing twice."""

    async def crash(request, c):
        return None

    monkeypatch.setattr(customer_routes, "_start", crash)
    r = await wh.post_customer()
    assert r.status_code == 202
    cid = r.headers["Location"].rsplit("/", 1)[-1]
    assert (await wh.row(cid)).status == "provisioning"
    with pytest.raises(RPCError):
        await wh.handle(cid).describe()
    n = await reconcile_customers(
        wh.env.client, wh.db, wh_settings, task_queue, older_than=timedelta(0)
    )
    assert n == 1
    await wh.wait(cid, "provisioned")
    # provisioned rows are not looked at again
    assert (
        await reconcile_customers(
            wh.env.client, wh.db, wh_settings, task_queue, older_than=timedelta(0)
        )
        == 0
    )


async def test_wh_sp1_sibling_external_id_answered_as_unknown(wh):
    """WH-SP1: a sub-partner posting its sibling's externalId is answered as for an unknown
    one (202, its own customer), not 409; the partner, who sees both, is refused it."""
    ext = f"ext-{uuid.uuid4().hex[:8]}"
    a = await wh.customer("sub_a", externalId=ext, wait_for=("provisioned",))
    r = await wh.post_customer("sub_b", externalId=ext)
    assert r.status_code == 202, r.text
    b = r.headers["Location"].rsplit("/", 1)[-1]
    assert b != a
    rows = await _rows(wh, ext)
    assert {(c.id, c.sub_partner_org_id) for c in rows} == {(a, wh.sub_a), (b, wh.sub_b)}
    r = await wh.post_customer("partner", externalId=ext)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "externalId"
    # the sub-partner's own retry is still the same customer
    r = await wh.http.get(
        "/v1/wholesale/customers", params={"externalId": ext}, headers=wh.auth("sub_b")
    )
    assert [c["id"] for c in r.json()["items"]] == [b]


async def test_wh_c1_precheck_other_partners_org_answered_as_unknown(wh):
    """WH-C1: precheck (and POST) naming an org another partner serves answers exactly as
    for an org that does not exist; the partner serving it is told it has services."""
    async with wh.db.session() as s:
        org = await create_customer_org(s, "Served Co", [("a@served.test", "full")], [])
    await wh.customer(
        "other", provisioningId=wh.other_template, orgId=org, customerInfo=None,
        wait_for=("provisioned",),
    )  # fmt: skip
    body = wh.customer_body(orgId=org, customerInfo=None)
    unknown = wh.customer_body(orgId="o-no-such-org", customerInfo=None)
    answers = []
    for b in (body, unknown):
        r = await wh.http.post("/v1/wholesale/customers/validate", json=b, headers=wh.auth())
        answers.append((r.status_code, r.json()["errorCode"], r.json()["description"]))
        r = await wh.http.post("/v1/wholesale/customers", json=b, headers=wh.auth())
        answers.append((r.status_code, r.json()["errorCode"], r.json()["description"]))
    assert answers[:2] == answers[2:]
    assert answers[0] == (409, P.ORG_UNKNOWN, "WH-C1 (orgId): no customer org with this ID")
    mine = wh.customer_body(provisioningId=wh.other_template, orgId=org, customerInfo=None)
    r = await wh.http.post("/v1/wholesale/customers/validate", json=mine, headers=wh.auth("other"))
    assert r.status_code == 409
    assert r.json()["description"] == "WH-C1 (orgId): the org already has wholesale services"


async def test_wh_c1_sql_errors_name_ids_not_personal_data(wh, mailer):
    """WH-C1: a value the store cannot hold fails the step once, non-retryably, with the
    customer's id and the constraint; neither the company name nor the email appears in the
    error Temporal records and the worker logs."""
    name, email = "Secret Pizza " + "x" * 300, "very.private@pizza.test"
    cid = uuid.uuid4().hex
    async with wh.db.session() as s:
        s.add(
            WholesaleCustomer(
                id=cid, partner_org_id=wh.partner, external_id="ext-pii",
                provisioning_id=wh.template, status="provisioning",
                packages=[{"name": "webex_meetings", "status": "provisioning",
                           "warnings": [], "errors": []}],
                errors=[], address={"country": "US"},
                customer_info={"name": name, "primaryEmail": email},
                request_hash="h", workflow_id=customer_workflow_id(cid),
                created_at=datetime.now(UTC), status_changed_at=datetime.now(UTC),
            )
        )  # fmt: skip
    with pytest.raises(ApplicationError) as err:
        await provisioning.provision_customer(wh.db, mailer, ProvisionStep(customer_id=cid))
    e = err.value
    assert e.non_retryable and e.type == "StoreRefused"
    assert cid in e.message and "provision_customer" in e.message
    text = f"{e.message} {e.details} {e.__cause__!r}"
    assert "Secret Pizza" not in text and email not in text
    assert (await wh.row(cid)).status == "provisioning"  # nothing was written


def test_wh_c1_api_crash_log_names_no_values():
    """The API's log of an unexpected database error: type, place, SQLSTATE, constraint;
    not the statement's values."""

    class Diag:
        constraint_name = "wholesale_subscriber_email_key"

    class Orig(Exception):
        sqlstate = "23505"
        diag = Diag()

    try:
        raise IntegrityError(
            "INSERT INTO wholesale_subscriber (email) VALUES (%(email)s)",
            {"email": "very.private@pizza.test"},
            Orig("Key (email)=(very.private@pizza.test) already exists."),
        )
    except IntegrityError as exc:
        with capture_logs() as logs:
            import structlog

            structlog.get_logger("api").error("request failed", **crash_fields(exc))
    assert logs[0]["sqlstate"] == "23505"
    assert logs[0]["constraint"] == "wholesale_subscriber_email_key"
    assert "very.private" not in repr(logs)


async def test_wh_c5_webex_shaped_ids_are_answered_not_refused(wh):
    """WH-C5 against Cisco's spec: an 88-character Webex id is a valid id that is unknown
    here (404 / 409 / an empty list), never a 400 for its length."""
    org, sub, person = webex_id(), webex_id(), webex_id("PEOPLE")
    assert len(org) >= 86
    r = await wh.http.get("/v1/wholesale/customers", params={"orgId": org}, headers=wh.auth())
    assert r.status_code == 200 and r.json()["items"] == []
    r = await wh.http.get(f"/v1/wholesale/customers/{org}", headers=wh.auth())
    assert r.status_code == 404
    r = await wh.post_customer(orgId=org, customerInfo=None)
    assert r.status_code == 409 and r.json()["errorCode"] == P.ORG_UNKNOWN
    r = await wh.http.get(
        "/v1/wholesale/subscribers",
        params={"customerId": org, "personId": person},
        headers=wh.auth(),
    )
    assert r.status_code == 200 and r.json()["items"] == []
    r = await wh.subscriber(org)
    assert r.status_code == 404
    r = await wh.http.get(
        "/v1/wholesale/customers", params={"onBehalfOfSubPartnerOrgId": sub}, headers=wh.auth()
    )
    assert r.status_code == 403  # not a sub-partner of yours: as for any unknown org


async def test_wh_c5_405_names_every_allowed_method(wh):
    """WH-C5 against Cisco's spec: a 405 carries `Allow` with every method of the path."""
    r = await wh.http.patch("/v1/wholesale/customers/abc", headers=wh.auth())
    assert r.status_code == 405
    assert r.headers["Allow"] == "DELETE, GET, PUT"
    r = await wh.http.delete("/v1/wholesale/customers", headers=wh.auth())
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"


async def test_wh_c5_free_string_filters_answer_unknown_values_with_no_match(wh):
    """WH-C5 against Cisco's spec: `status` and `provisioningState`, typed as free strings
    there, answer an unknown value with an empty list (as a filter matching nothing), and
    a known value still filters."""
    cid = await wh.customer(wait_for=("provisioned",))
    await wh.subscriber(cid)
    for path, params in (
        ("/v1/wholesale/customers", {"status": "SOMETHING_NEW"}),
        ("/v1/wholesale/subscribers", {"status": "SOMETHING_NEW"}),
        ("/v1/wholesale/subPartners", {"provisioningState": "SOMETHING_NEW"}),
    ):
        r = await wh.http.get(path, params=params, headers=wh.auth())
        assert r.status_code == 200 and r.json()["items"] == [], (path, r.text)
    r = await wh.http.get(
        "/v1/wholesale/customers", params={"status": "provisioned"}, headers=wh.auth()
    )
    assert [c["id"] for c in r.json()["items"]] == [cid]
    r = await wh.http.get(
        "/v1/wholesale/subPartners", params={"provisioningState": "active"}, headers=wh.auth()
    )
    assert len(r.json()["items"]) == 2
