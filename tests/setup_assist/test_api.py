"""The HTTP API under /v1/wholesale/setupAssist: submit, get, list, complete a task,
request information and answer it; refusals name the rule and the field and write
nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import delete, func, select

from models.billing.tables import BillingCharge
from models.common.orgs import create_partner
from models.setup_assist import rules
from models.setup_assist.tables import SetupAssistEntitlement, SetupAssistProject
from models.wholesale.store import SCOPES, create_token
from models.wholesale.tables import WholesaleSubscriber
from tests.setup_assist.conftest import SetupAssistWorld

BASE = "/v1/wholesale/setupAssist/projects"


def earliest(country: str = "US") -> date:
    today = datetime.now(UTC).date()
    cal = rules.calendar_for(country, [today.year, today.year + 1])
    return rules.earliest_completion(cal, today, 6)


def body(sa: SetupAssistWorld, org_id: str, location: str, **kw: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "partnerOrgId": sa.partner,
        "customerOrgId": org_id,
        "subscriptionId": "Sub-1",
        "numberOfLocations": 1,
        "locationId": location,
        "completionDate": earliest().isoformat(),
    }
    b.update(kw)
    return b


async def post(sa: SetupAssistWorld, path: str, json: Any) -> Any:
    assert sa.http is not None
    return await sa.http.post(path, json=json, headers=sa.auth())


async def get(sa: SetupAssistWorld, path: str, token: str | None = None) -> Any:
    assert sa.http is not None
    headers = {"Authorization": f"Bearer {token}"} if token else sa.auth()
    return await sa.http.get(path, headers=headers)


def refused(r: Any, status: int, rule: str, field: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()
    assert f"{rule} ({field})" in err["description"], err
    assert field in [e["field"] for e in err["errors"]], err


async def test_wh_a2_bad_requests_are_refused_naming_rule_and_field_and_write_nothing(
    sa: SetupAssistWorld,
) -> None:
    """WH-A1/WH-A2: each precondition refused with its rule and field (camelCase, as the
    body names it); nothing is written: no project, no charge, no workflow."""
    org, loc = await sa.customer(users=3)
    too_soon = (earliest() - timedelta(days=1)).isoformat()
    refused(
        await post(sa, BASE, body(sa, org, loc, completionDate=too_soon)),
        400,
        "WH-A2",
        "completionDate",
    )
    refused(
        await post(sa, BASE, body(sa, org, loc, completionDate="next week")),
        400,
        "WH-A2",
        "completionDate",
    )
    refused(
        await post(sa, BASE, body(sa, org, loc, numberOfLocations=2)),
        400,
        "WH-A2",
        "numberOfLocations",
    )
    refused(
        await post(sa, BASE, body(sa, org, loc, numberOfLocations="1")),
        400,
        "WH-A2",
        "numberOfLocations",
    )
    refused(await post(sa, BASE, body(sa, org, loc, bogus=1)), 400, "WH-A2", "bogus")
    refused(
        await post(sa, BASE, body(sa, org, loc, partnerOrgId="p-other")),
        400,
        "WH-A2",
        "partnerOrgId",
    )
    refused(await post(sa, BASE, body(sa, org, "loc-elsewhere")), 400, "WH-A2", "locationId")
    refused(
        await post(sa, BASE, body(sa, org, loc, subscriptionId="Sub-9")),
        400,
        "WH-A2",
        "subscriptionId",
    )
    refused(await post(sa, BASE, {}), 400, "WH-A2", "partnerOrgId")

    unprovisioned, loc2 = await sa.customer(users=2, status="provisioning")
    refused(await post(sa, BASE, body(sa, unprovisioned, loc2)), 400, "WH-A2", "customerOrgId")
    pending_user, loc3 = await sa.customer(users=2, user_status="pending_user_migration")
    refused(await post(sa, BASE, body(sa, pending_user, loc3)), 400, "WH-A2", "customerOrgId")
    empty, loc4 = await sa.customer(users=0)
    refused(await post(sa, BASE, body(sa, empty, loc4)), 400, "WH-A2", "locationId")

    async with sa.db.session() as s:
        await s.exec(delete(SetupAssistEntitlement))
    refused(await post(sa, BASE, body(sa, org, loc)), 400, "WH-A1", "subscriptionId")

    async with sa.db.session() as s:
        assert (await s.exec(select(func.count()).select_from(SetupAssistProject))).one() == 0
        assert (await s.exec(select(func.count()).select_from(BillingCharge))).one() == 0
    assert (await get(sa, BASE)).json() == {"items": []}


async def test_wh_a2_submit_get_list_and_the_commands_over_http(sa: SetupAssistWorld) -> None:
    """WH-A2 accepted six business days ahead; the project says what is open and who owes
    it; tasks, information requests and answers through the API; another partner sees
    nothing (404)."""
    org, loc = await sa.customer(users=7)
    r = await post(sa, BASE, body(sa, org, loc, requesterEmail="req@sptelco.com", sendCopy=True))
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"{BASE}/{loc}")
    await sa.opened(loc)
    p = (await get(sa, f"{BASE}/{loc}")).json()
    assert p["flow"] == "standard" and p["seats"] == 7 and p["state"] == "in_progress"
    assert p["currentPhase"] == 1
    assert p["owedBy"] == ["cisco", "partner"]
    assert {t["id"]: t["owner"] for t in p["openTasks"]}["1.p1"] == "partner"
    assert len(p["phases"]) == 8 and p["phases"][5]["plannedEnd"] == earliest().isoformat()
    copies = await sa.notices("setup_assist_request_copy")
    assert [n.recipient for n in copies] == ["req@sptelco.com"]

    items = (await get(sa, f"{BASE}?customerOrgId={org}")).json()["items"]
    assert [i["projectId"] for i in items] == [loc]

    refused(
        await post(sa, f"{BASE}/{loc}/tasks/1.c1/complete", {"who": "partner", "note": "x"}),
        400,
        "WH-A3",
        "who",
    )
    refused(
        await post(sa, f"{BASE}/{loc}/tasks/2.c1/complete", {"who": "cisco", "note": "x"}),
        409,
        "WH-A3",
        "taskId",
    )
    r = await post(sa, f"{BASE}/{loc}/tasks/1.c1/complete", {"who": "cisco", "note": "sent"})
    assert r.status_code == 200, r.text
    assert "1.c1" not in [t["id"] for t in r.json()["openTasks"]]
    done = r.json()["phases"][0]["tasks"][0]
    assert (done["doneBy"], done["note"]) == ("cisco", "sent")

    r = await post(sa, f"{BASE}/{loc}/informationRequests", {"topic": "user list"})
    assert r.status_code == 201, r.text
    assert r.json()["number"] == 1
    today = datetime.now(UTC).date()
    cal = rules.calendar_for("US", [today.year, today.year + 1])
    assert r.json()["dueOn"] == rules.add_business_days(cal, today, 2).isoformat()
    refused(
        await post(sa, f"{BASE}/{loc}/informationRequests/2/answer", {"note": "x"}),
        409,
        "WH-A4",
        "number",
    )
    r = await post(sa, f"{BASE}/{loc}/informationRequests/1/answer", {"note": "attached"})
    assert r.status_code == 200 and r.json()["message"] == "request 1 answered"
    p = (await get(sa, f"{BASE}/{loc}")).json()
    assert p["infoRequests"][0]["answerNote"] == "attached"

    png = await get(sa, f"{BASE}/{loc}/timeline.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 10_000
    import os

    if out := os.environ.get("SETUP_ASSIST_TIMELINE_OUT"):
        open(out, "wb").write(png.content)

    async with sa.db.session() as s:
        other = await create_partner(s, "Other Telco", 1, [("admin@other.test", "full")])
        _, token = await create_token(
            s, partner_org_id=other, admin_email="admin@other.test", scopes=list(SCOPES)
        )
    assert (await get(sa, f"{BASE}/{loc}", token)).status_code == 404
    assert (await get(sa, BASE, token)).json() == {"items": []}
    async with sa.db.session() as s:
        users = (await s.exec(select(func.count()).select_from(WholesaleSubscriber))).one()
    assert users == 7
