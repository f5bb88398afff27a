"""WH-S4: "the partner portal adds at most 25 users at a time". The seed (the Wholesale RTM
solution guide, "Add users manually") places the limit in Control Hub's *Manually add users*
form, opened from Partner Hub: one pass of the form takes up to 25 users, and CSV import or
directory sync add more. It is a limit of Cisco's portal UI, not of an org or of the API: this
API, like Cisco's, adds one subscriber per request and has no batch form to cap (see
docs/decisions.md). The test proves the API consistent with the rule: no request adds more
than one user, and an org is not limited to 25 users (neither in total nor in flight)."""

from __future__ import annotations

import asyncio

from sqlmodel import func, select

from models.wholesale.tables import WholesaleSubscriber

PORTAL_BATCH = 25  # WH-S4


async def test_wh_s4_api_adds_one_user_per_request_and_no_org_cap_of_25(wh):
    """WH-S4: a batch of users in one request is refused (400, nothing written), whether a
    JSON array or a list under any field name; 26 users (more than the portal's form takes)
    sent at once, one per request, are all added (200), and the list shows 27 with one
    admin (WH-S2: the first subscriber, added before them)."""
    cid = await wh.customer(
        packages=["webex_calling", "webex_suite", "webex_meetings"], wait_for=("provisioned",)
    )
    one = {
        "customerId": cid,
        "email": "batch-0@pizza.test",
        "package": "webex_meetings",
        "provisioningParameters": {"firstName": "Ann", "lastName": "Lee"},
    }
    many = [{**one, "email": f"batch-{i}@pizza.test"} for i in range(1, PORTAL_BATCH + 2)]
    for body in (many, many[:PORTAL_BATCH], {**one, "users": many}, {"subscribers": many}):
        r = await wh.http.post("/v1/wholesale/subscribers", json=body, headers=wh.auth())
        assert r.status_code == 400, r.text

    async def count() -> int:
        async with wh.db.session() as s:
            q = select(func.count()).where(WholesaleSubscriber.customer_id == cid)
            return (await s.exec(q)).one()

    assert await count() == 0

    first = await wh.http.post("/v1/wholesale/subscribers", json=one, headers=wh.auth())
    assert first.status_code == 200 and first.json()["isAdmin"] is True
    rs = await asyncio.gather(
        *[wh.http.post("/v1/wholesale/subscribers", json=b, headers=wh.auth()) for b in many]
    )
    assert [r.status_code for r in rs] == [200] * (PORTAL_BATCH + 1), [r.text for r in rs]
    assert not any(r.json()["isAdmin"] for r in rs)
    assert await count() == PORTAL_BATCH + 2
    r = await wh.http.get(
        "/v1/wholesale/subscribers", params={"customerId": cid, "max": 100}, headers=wh.auth()
    )
    assert r.status_code == 200, r.text
    emails = sorted(i["email"] for i in r.json()["items"])
    assert emails == sorted(b["email"] for b in [one, *many])
