"""The billing-report endpoints as Cisco's spec has them: WH-B2..B8 and PX-6, through the
HTTP API, the ``BillingReport`` workflow and its activity, with a clock the test controls."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from models.billing import store
from models.billing.rules import COLUMNS
from models.wholesale.store import set_sub_partner_state
from tests.billing.conftest import Billing, at

D = date.fromisoformat
FEB: dict[str, Any] = {"billingStartDate": "2026-02-01", "billingEndDate": "2026-02-28"}


async def _usage(bill: Billing) -> dict[str, str]:
    """Two subscribers of one partner customer (1 and 0.5 day), one of a sub-partner A
    customer (2 days), one of sub-partner B's (1 day), one of the other partner's (1 day)."""
    own = await bill.customer()
    s1, s2 = await bill.subscriber(own), await bill.subscriber(own)
    await bill.assign(s1, "webex_calling", at("2026-02-10 00:00"), at("2026-02-11 00:00"))
    await bill.assign(s2, "webex_calling", at("2026-02-10 12:00"), at("2026-02-11 00:00"))
    a = await bill.customer(sub=bill.sub_a)
    sa = await bill.subscriber(a)
    await bill.assign(sa, "webex_suite", at("2026-02-20 00:00"), at("2026-02-22 00:00"))
    b = await bill.customer(sub=bill.sub_b)
    sb = await bill.subscriber(b)
    await bill.assign(sb, "webex_meetings", at("2026-02-05 00:00"), at("2026-02-06 00:00"))
    o = await bill.customer(other=True)
    so = await bill.subscriber(o)
    await bill.assign(so, "webex_calling", at("2026-02-05 00:00"), at("2026-02-06 00:00"))
    return {"own": own, "s1": s1, "s2": s2, "a": a, "sa": sa, "b": b, "sb": sb, "o": o}


async def test_px_6_create_answers_the_id_at_once_then_completes(bill: Billing) -> None:
    r = await bill.create(**FEB)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] and body["type"] == "PARTNER" and body["category"] == "RECONCILIATION"
    assert (body["billingStartDate"], body["billingEndDate"]) == ("2026-02-01", "2026-02-28")
    done = await bill.wait(body["id"])
    assert done["status"] == "COMPLETED" and done["errors"] == []
    assert done["createdBy"].startswith("u-") and done["created"].endswith("Z")
    assert "tempDownloadURL" in done


async def test_wh_b5_columns_and_quantities_per_type(bill: Billing) -> None:
    ids = await _usage(bill)
    partner = await bill.report(**FEB, type="PARTNER")
    lines = await bill.csv(partner["id"])
    assert list(lines[0].keys()) == list(COLUMNS["PARTNER"])
    got = {(r["PARTNER_ORG_ID"], r["SERVICE_NAME"]): r["QUANTITY"] for r in lines}
    assert got == {
        (bill.partner, "WEBEX_CALLING"): "1.5",  # 1 + 0.5: the partner line sums its users
        (bill.sub_a, "WEBEX_SUITE"): "2",
        (bill.sub_b, "WEBEX_MEETINGS"): "1",
    }
    names = {r["PARTNER_ORG_ID"]: r["PARTNER_NAME"] for r in lines}
    assert names[bill.partner] == "SP Telco" and names[bill.sub_a] == "Reseller A"
    subs = {r["PARTNER_ORG_ID"]: r["SUBSCRIPTION_ID"] for r in lines}
    assert subs == {bill.partner: "Sub-1", bill.sub_a: "SubA", bill.sub_b: "SubB"}
    assert all(r["SKU"].startswith("A-WHL-") for r in lines)

    customer = await bill.report(**FEB, type="CUSTOMER")
    lines = await bill.csv(customer["id"])
    assert list(lines[0].keys()) == list(COLUMNS["CUSTOMER"])
    mine = [r for r in lines if r["CUSTOMER_EXTERNAL_ID"] == f"ext-{ids['own']}"]
    assert [(r["CUSTOMER_ORG_ID"], r["QUANTITY"]) for r in mine] == [(f"org-{ids['own']}", "1.5")]

    user = await bill.report(**FEB, type="USER")
    lines = await bill.csv(user["id"])
    assert list(lines[0].keys()) == list(COLUMNS["USER"])
    per_user = {r["SUBSCRIBER_ID"]: (r["USER_ID"], r["QUANTITY"]) for r in lines}
    assert per_user[ids["s1"]] == (f"u-{ids['s1']}", "1")
    assert per_user[ids["s2"]] == (f"u-{ids['s2']}", "0.5")
    assert ids["o"] not in {r["CUSTOMER_ORG_ID"] for r in lines}  # never another partner's
    assert all(r["WORKSPACE_ID"] == "" for r in lines)


async def test_wh_b2_period_rules(bill: Billing) -> None:
    """Within the last five years, never today or later, start <= end, real dates."""
    today = bill.now.date()  # 2026-03-15
    five = today.replace(year=today.year - 5)
    cases = {
        (str(today), str(today)): "billingEndDate",
        (str(today - timedelta(days=1)), str(today + timedelta(days=3))): "billingEndDate",
        (str(five - timedelta(days=1)), "2026-01-31"): "billingStartDate",
        ("2026-02-10", "2026-02-01"): "billingStartDate",
        ("2026-02-30", "2026-03-01"): "billingStartDate",
        ("20260201", "2026-02-02"): "billingStartDate",
    }
    for (start, end), field in cases.items():
        r = await bill.create(billingStartDate=start, billingEndDate=end)
        assert r.status_code == 400, (start, end, r.text)
        assert "WH-B2" in r.json()["description"] and field in r.json()["description"]
    ok = await bill.create(billingStartDate=str(five), billingEndDate=str(today - timedelta(1)))
    assert ok.status_code == 200, ok.text
    assert (await bill.create(billingStartDate="2026-02-01", type="USER")).status_code == 400
    assert len(await bill.rows()) == 1  # a refusal writes nothing


async def test_wh_b4_a_completed_report_must_be_deleted_before_regenerating(bill: Billing) -> None:
    first = await bill.report(**FEB, type="USER")
    again = await bill.create(**FEB, type="USER")
    assert again.status_code == 409 and "WH-B4" in again.json()["description"]
    # another type or another sub-partner is another report
    assert (await bill.create(**FEB, type="CUSTOMER")).status_code == 200
    assert (await bill.create(**FEB, type="USER", subPartnerOrgId=bill.sub_a)).status_code == 200
    deleted = await bill.http.delete(
        f"/v1/wholesale/billing/reports/{first['id']}", headers=bill.auth()
    )
    assert deleted.status_code == 204 and deleted.content == b""
    regenerated = await bill.create(**FEB, type="USER")
    assert regenerated.status_code == 200 and regenerated.json()["id"] != first["id"]


async def test_wh_b4_in_progress_or_failed_needs_no_delete(bill: Billing) -> None:
    """In progress: the same report answers (no second generation); failed: a new one."""
    async with bill.db.session() as s:
        row, _ = await store.create_report(
            s,
            store.ReportSpec(
                bill.partner, None, "PARTNER", D("2026-01-01"), D("2026-01-31"), False, "t"
            ),
            bill.now.date(),
            5,
        )
    same = await bill.create(billingStartDate="2026-01-01", billingEndDate="2026-01-31")
    assert same.status_code == 200 and same.json()["id"] == row.id
    await bill.sql(
        f"UPDATE billing_report SET status = 'FAILED' WHERE id = '{row.id}' RETURNING id"
    )
    fresh = await bill.create(billingStartDate="2026-01-01", billingEndDate="2026-01-31")
    assert fresh.status_code == 200 and fresh.json()["id"] != row.id


async def test_wh_b3_url_is_valid_30_minutes_after_the_get_and_cannot_be_extended(
    bill: Billing,
) -> None:
    await _usage(bill)
    rid = (await bill.report(**FEB))["id"]
    got_at = bill.now
    url = (await bill.get(rid)).json()["tempDownloadURL"]
    bill.now = got_at + timedelta(minutes=29, seconds=59)
    ok = await bill.download(url)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/csv")
    assert ok.text.splitlines()[0].startswith("PARTNER_NAME,PARTNER_ORG_ID,SUBSCRIPTION_ID")
    bill.now = got_at + timedelta(minutes=30)
    expired = await bill.download(url)
    assert expired.status_code == 403 and "expired" in expired.json()["description"]
    # extending the expiry breaks the signature; a forged signature is refused
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    extended = {**q, "Expires": str(int(q["Expires"]) + 3600)}
    r = await bill.download(f"{parts.path}?{urlencode(extended)}")
    assert r.status_code == 403 and "signature" in r.json()["description"]
    forged = {**q, "Signature": "A" * 43}
    assert (await bill.download(f"{parts.path}?{urlencode(forged)}")).status_code == 403
    # a later GET gives a URL valid 30 minutes from then
    fresh = (await bill.get(rid)).json()["tempDownloadURL"]
    bill.now += timedelta(minutes=29)
    assert (await bill.download(fresh)).status_code == 200


async def test_wh_b3_in_progress_and_failed_reports_have_no_url(bill: Billing) -> None:
    async with bill.db.session() as s:
        row, _ = await store.create_report(
            s,
            store.ReportSpec(
                bill.partner, None, "USER", D("2026-01-01"), D("2026-01-02"), False, "t"
            ),
            bill.now.date(),
            5,
        )
    body = (await bill.get(row.id)).json()
    assert body["status"] == "IN_PROGRESS" and "tempDownloadURL" not in body


async def test_px_6_a_failed_report_carries_errors(bill: Billing, tmp_path: Path) -> None:
    """The report folder cannot be made (a file is in the way): FAILED with errors."""
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    bill.app.state.settings = bill.settings.model_copy(
        update={"billing_report_dir": blocker / "reports", "billing_report_attempts": 1}
    )
    body = await bill.report(**FEB)
    assert body["status"] == "FAILED" and "tempDownloadURL" not in body
    (err,) = body["errors"]
    assert err["code"] == 2030 and "generation failed" in err["description"]
    again = await bill.create(**FEB)  # WH-B4: a failed report does not block a new one
    assert again.status_code == 200 and again.json()["id"] != body["id"]


async def test_wh_b4_delete_revokes_every_url_at_once(bill: Billing) -> None:
    await _usage(bill)
    rid = (await bill.report(**FEB))["id"]
    urls = []
    for _ in range(2):  # two GETs a minute apart: two different URLs
        urls.append((await bill.get(rid)).json()["tempDownloadURL"])
        bill.now += timedelta(minutes=1)
    assert urls[0] != urls[1]
    assert [(await bill.download(u)).status_code for u in urls] == [200, 200]
    # ignored below: the test settings always name a report directory (None only when unset)
    files = list(Path(bill.settings.billing_report_dir).glob("*.csv"))  # type: ignore[arg-type]
    assert len(files) == 1
    r = await bill.http.delete(f"/v1/wholesale/billing/reports/{rid}", headers=bill.auth())
    assert r.status_code == 204
    assert [(await bill.download(u)).status_code for u in urls] == [404, 404]
    assert not files[0].exists()
    assert (await bill.get(rid)).status_code == 404
    again = await bill.http.delete(f"/v1/wholesale/billing/reports/{rid}", headers=bill.auth())
    assert again.status_code == 404


async def test_wh_b6_scopes(bill: Billing) -> None:
    rid = (await bill.report(**FEB))["id"]
    path = "/v1/wholesale/billing/reports"
    for who in ("no_billing",):
        assert (await bill.create(who, **FEB)).status_code == 403
        assert (await bill.http.get(path, headers=bill.auth(who))).status_code == 403
        assert (await bill.get(rid, who)).status_code == 403
    # read: get and list; not create or delete
    assert (await bill.http.get(path, headers=bill.auth("read_only"))).status_code == 200
    assert (await bill.get(rid, "read_only")).status_code == 200
    r = await bill.create("read_only", billingStartDate="2026-01-01", billingEndDate="2026-01-02")
    assert r.status_code == 403 and "write" in r.json()["description"]
    r = await bill.http.delete(f"{path}/{rid}", headers=bill.auth("read_only"))
    assert r.status_code == 403
    assert (await bill.http.get(path)).status_code == 401  # no token


async def test_wh_b7_list_filters_match_exactly_sorted_at_most_100(bill: Billing) -> None:
    periods = [
        ("2026-01-01", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-01-10", "2026-01-20"),
    ]
    async with bill.db.session() as s:
        for start, end in periods:
            for kind in ("PARTNER", "USER"):
                await store.create_report(
                    s,
                    store.ReportSpec(bill.partner, None, kind, D(start), D(end), False, "t"),
                    bill.now.date(),
                    5,
                )
    await bill.sql(
        "UPDATE billing_report SET status = 'COMPLETED' WHERE type = 'USER' RETURNING id"
    )
    path = "/v1/wholesale/billing/reports"

    async def items(**params: Any) -> list[dict]:
        r = await bill.http.get(path, params=params, headers=bill.auth())
        assert r.status_code == 200, r.text
        return r.json()["items"]

    jan = await items(billingStartDate="2026-01-01", billingEndDate="2026-01-31")
    assert {(i["billingStartDate"], i["type"]) for i in jan} == {
        ("2026-01-01", "PARTNER"),
        ("2026-01-01", "USER"),
    }  # 2026-01-10..20 lies inside January but is not returned
    assert [i["type"] for i in await items(type="USER", status="COMPLETED")] == ["USER"] * 3
    assert await items(status="FAILED") == []
    starts = [i["billingStartDate"] for i in await items()]
    assert starts == sorted(starts)  # default: by start date
    ends = [i["billingEndDate"] for i in await items(sortBy="billingEndDate")]
    assert ends == sorted(ends)
    assert [i["status"] for i in await items(sortBy="status")] == ["COMPLETED"] * 3 + [
        "IN_PROGRESS"
    ] * 3
    page = await bill.http.get(path, params={"max": 2}, headers=bill.auth())
    assert len(page.json()["items"]) == 2 and 'rel="next"' in page.headers["link"]
    nxt = page.headers["link"].split(">")[0].lstrip("<")
    rest = await bill.http.get(nxt, headers=bill.auth())
    assert len(rest.json()["items"]) == 2
    assert (await bill.http.get(path, params={"max": 101}, headers=bill.auth())).status_code == 400
    bad = await bill.http.get(path, params={"billingStartDate": "2026-1-1"}, headers=bill.auth())
    assert bad.status_code == 400


async def test_wh_b8_partners_and_sub_partners_see_only_their_reports(bill: Billing) -> None:
    ids = await _usage(bill)
    mine = await bill.report(**FEB, type="USER")
    a = await bill.report("sub_a", **FEB, type="USER")
    b = await bill.report("partner", **FEB, type="USER", subPartnerOrgId=bill.sub_b)
    other = await bill.report("other", **FEB, type="USER")
    path = "/v1/wholesale/billing/reports"

    async def listed(who: str, **params: str) -> set[str]:
        r = await bill.http.get(path, params=params, headers=bill.auth(who))
        return {i["id"] for i in r.json()["items"]}

    assert await listed("partner") == {mine["id"], a["id"], b["id"]}
    assert await listed("partner", subPartnerOrgId=bill.sub_a) == {a["id"]}
    assert await listed("sub_a") == {a["id"]}
    assert await listed("sub_b") == {b["id"]}
    assert await listed("other") == {other["id"]}
    # another partner's or a sibling's report does not exist for the caller
    assert (await bill.get(mine["id"], "other")).status_code == 404
    assert (await bill.get(b["id"], "sub_a")).status_code == 404
    assert (await bill.get(mine["id"], "sub_a")).status_code == 404
    r = await bill.http.delete(f"{path}/{mine['id']}", headers=bill.auth("other"))
    assert r.status_code == 404
    # a sub-partner's report holds only its customers
    assert {r["SUBSCRIBER_ID"] for r in await bill.csv(a["id"], "sub_a")} == {ids["sa"]}
    assert {r["SUBSCRIBER_ID"] for r in await bill.csv(b["id"])} == {ids["sb"]}
    assert {r["SUBSCRIBER_ID"] for r in await bill.csv(other["id"], "other")} == {
        (await bill.sql(f"SELECT id FROM wholesale_subscriber WHERE customer_id = '{ids['o']}'"))[
            0
        ][0]
    }
    # creating for someone else's sub-partner is refused
    r = await bill.create("other", **FEB, subPartnerOrgId=bill.sub_a)
    assert r.status_code == 403 and "WH-B8" in r.json()["description"]
    r = await bill.create("sub_a", **FEB, subPartnerOrgId=bill.sub_b)
    assert r.status_code == 403


async def test_px_6_a_suspended_sub_partner_can_only_delete(bill: Billing) -> None:
    a = await bill.report("sub_a", **FEB)
    async with bill.db.session() as s:
        await set_sub_partner_state(s, bill.sub_a, "suspended")
    r = await bill.create("sub_a", billingStartDate="2026-01-01", billingEndDate="2026-01-31")
    assert r.status_code == 403 and "PX-6" in r.json()["description"]
    deleted = await bill.http.delete(
        f"/v1/wholesale/billing/reports/{a['id']}", headers=bill.auth("sub_a")
    )
    assert deleted.status_code == 204


async def test_px_6_report_activity_heartbeats_so_a_dead_worker_is_noticed(
    bill: Billing, env
) -> None:
    """PX-6 under faults (issue 9): the report's activity is scheduled with a heartbeat
    timeout (30 s) and heartbeats while it streams, so a report whose worker was killed is
    retried within seconds instead of waiting out the 30-minute start-to-close timeout (the
    fault campaign found one IN_PROGRESS for that long); the report still completes."""
    from models.billing.contract import report_workflow_id

    r = (await bill.create(**FEB)).json()
    assert (await bill.wait(r["id"]))["status"] == "COMPLETED"
    history = await env.client.get_workflow_handle(report_workflow_id(r["id"])).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert [a.activity_type.name for a in scheduled] == ["billing_generate_report"]
    assert scheduled[0].heartbeat_timeout.ToTimedelta() == timedelta(seconds=30)
