"""Issue 9 (Cisco's spec): a Setup Assist project for a customer whose org and location
carry Webex ids (base64 of ``ciscospark://us/<KIND>/<uuid>``, 87 and 84 characters, a
location's padded): submitted, read, listed and worked over HTTP, keyed by the location id
whole (migration 0012 widened the columns); an id over ``WEBEX_ID_MAX`` is refused naming
the field and writes nothing."""

from __future__ import annotations

from sqlmodel import col, func, select, update

from models.common.types import WEBEX_ID_MAX
from models.setup_assist.contract import setup_assist_workflow_id
from models.setup_assist.tables import SetupAssistProject
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from tests.setup_assist.conftest import SetupAssistWorld
from tests.setup_assist.test_api import BASE, body, get, post, refused
from tests.webex import too_long, webex_id


async def webex_customer(sa: SetupAssistWorld, users: int = 3) -> tuple[str, str]:
    """A provisioned wholesale customer whose org id and location id are Webex's."""
    org, location = await sa.customer(users=users)
    w_org, w_location = webex_id(), webex_id("LOCATION", padded=True)
    async with sa.db.session() as s:
        await s.exec(
            update(WholesaleCustomer)
            .where(col(WholesaleCustomer.org_id) == org)
            .values(org_id=w_org, location_id=w_location)
        )
        await s.exec(
            update(WholesaleSubscriber)
            .where(col(WholesaleSubscriber.location_id) == location)
            .values(location_id=w_location)
        )
    return w_org, w_location


async def test_wh_a2_webex_ids_are_accepted_end_to_end(sa: SetupAssistWorld) -> None:
    """WH-A2/WH-A7 with Webex ids: 201, the project keyed by the padded 84-character location id
    (row, workflow id, GET), listed by the 87-character customer org id, a task completed
    through the path that carries the location id."""
    org, loc = await webex_customer(sa, users=4)
    assert len(org) == 87 and len(loc) == 84 and loc.endswith("==")
    r = await post(sa, BASE, body(sa, org, loc))
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"{BASE}/{loc}")
    row = await sa.opened(loc)
    assert (row.id, row.location_id, row.customer_org_id) == (loc, loc, org)
    assert row.workflow_id == setup_assist_workflow_id(loc)
    p = (await get(sa, f"{BASE}/{loc}")).json()
    assert p["state"] == "in_progress" and p["seats"] == 4
    items = (await get(sa, f"{BASE}?customerOrgId={org}")).json()["items"]
    assert [i["projectId"] for i in items] == [loc]
    r = await post(sa, f"{BASE}/{loc}/tasks/1.c1/complete", {"who": "cisco", "note": "sent"})
    assert r.status_code == 200, r.text
    assert "1.c1" not in [t["id"] for t in r.json()["openTasks"]]


async def test_wh_a2_an_id_over_the_bound_is_refused_naming_the_field(
    sa: SetupAssistWorld,
) -> None:
    """One character over ``WEBEX_ID_MAX``: locationId and customerOrgId refused (400,
    WH-A2, the field named), the list's filter too; no project is written."""
    org, loc = await webex_customer(sa)
    long = too_long("LOCATION")
    assert len(long) == WEBEX_ID_MAX + 1
    refused(await post(sa, BASE, body(sa, org, long)), 400, "WH-A2", "locationId")
    refused(await post(sa, BASE, body(sa, too_long(), loc)), 400, "WH-A2", "customerOrgId")
    r = await get(sa, f"{BASE}?customerOrgId={too_long()}")
    assert r.status_code == 400, r.text
    assert "customerOrgId" in [e["field"] for e in r.json()["errors"]], r.json()
    async with sa.db.session() as s:
        assert (await s.exec(select(func.count()).select_from(SetupAssistProject))).one() == 0
