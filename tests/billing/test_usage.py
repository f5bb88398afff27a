"""WH-B1: each day's prorated quantity per subscriber and package, computed in SQL from the
assignment intervals, against hand-computed cases (to the half day and beyond); WH-A5: a
charge is a billing line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from models.billing import store
from models.billing.contract import CloseDue
from models.common.refusal import RuleError
from tests.billing.conftest import Billing, at

D = date.fromisoformat


async def test_wh_b1_noon_to_noon_two_days_later_is_two_days(bill: Billing) -> None:
    """Opened at noon, closed at noon two days later: 0.5 + 1 + 0.5 = 2."""
    sid = await bill.subscriber(await bill.customer())
    await bill.assign(sid, "webex_calling", at("2026-02-10 12:00"), at("2026-02-12 12:00"))
    await bill.close(D("2026-02-09"), D("2026-02-13"))
    assert await bill.usage(sid) == {
        ("2026-02-10", "webex_calling"): "0.5",
        ("2026-02-11", "webex_calling"): "1",
        ("2026-02-12", "webex_calling"): "0.5",
    }
    report = await bill.report(
        billingStartDate="2026-02-01", billingEndDate="2026-02-28", type="USER"
    )
    assert report["status"] == "COMPLETED"
    (line,) = await bill.csv(report["id"])
    assert line["QUANTITY"] == "2"
    assert line["CONSUMPTION_START_DATE"] == "2026-02-10"
    assert line["CONSUMPTION_END_DATE"] == "2026-02-12"
    assert line["SUBSCRIBER_ID"] == sid


async def test_wh_b1_reassigned_to_another_package_the_same_day(bill: Billing) -> None:
    """Calling until 18:00, then Suite from 18:00: 0.75 calling, 0.25 suite that day, the
    next day 1 suite; the day's total stays 1."""
    sid = await bill.subscriber(await bill.customer())
    change = at("2026-02-10 18:00")
    await bill.assign(sid, "webex_calling", at("2026-02-10 00:00"), change)
    await bill.assign(sid, "webex_suite", change)
    await bill.close(D("2026-02-10"), D("2026-02-11"))
    assert await bill.usage(sid) == {
        ("2026-02-10", "webex_calling"): "0.75",
        ("2026-02-10", "webex_suite"): "0.25",
        ("2026-02-11", "webex_suite"): "1",
    }
    report = await bill.report(
        billingStartDate="2026-02-10", billingEndDate="2026-02-11", type="USER"
    )
    lines = {r["SERVICE_NAME"]: r["QUANTITY"] for r in await bill.csv(report["id"])}
    assert lines == {"WEBEX_CALLING": "0.75", "WEBEX_SUITE": "1.25"}


async def test_wh_b1_subscriber_deleted_mid_day_keeps_its_ids(bill: Billing) -> None:
    """Deleted at 06:00: a quarter of that day; the report still shows its subscriber, user
    and customer org ids (billing keeps its own copy)."""
    cid = await bill.customer()
    sid = await bill.subscriber(cid)
    await bill.assign(sid, "webex_meetings", at("2026-02-09 00:00"))
    await bill.delete_subscriber(sid, at("2026-02-10 06:00"))
    await bill.close(D("2026-02-09"), D("2026-02-11"))
    assert await bill.usage(sid) == {
        ("2026-02-09", "webex_meetings"): "1",
        ("2026-02-10", "webex_meetings"): "0.25",
    }
    report = await bill.report(
        billingStartDate="2026-02-09", billingEndDate="2026-02-11", type="USER"
    )
    (line,) = await bill.csv(report["id"])
    assert line["QUANTITY"] == "1.25"
    assert (line["SUBSCRIBER_ID"], line["USER_ID"]) == (sid, f"u-{sid}")
    assert line["CUSTOMER_ORG_ID"] == f"org-{cid}"
    assert line["CUSTOMER_EXTERNAL_ID"] == f"ext-{cid}"


async def test_wh_b1_day_bounded_by_a_non_utc_zone(bill: Billing) -> None:
    """America/New_York: 22:00 to 12:00 local is 2 h of the first day and half the second;
    bounded by UTC midnights it would be 14/24 of one day. On the spring-forward day (23 h),
    local midnight to local noon is 11 h: 11/23."""
    ny = ZoneInfo("America/New_York")
    sid = await bill.subscriber(await bill.customer())
    await bill.assign(sid, "webex_calling", at("2026-02-09 22:00", ny), at("2026-02-10 12:00", ny))
    other = await bill.subscriber(await bill.customer())
    spring = at("2026-03-08 00:00", ny), at("2026-03-08 12:00", ny)
    await bill.assign(other, "webex_calling", *spring)
    await bill.close(D("2026-02-08"), D("2026-03-10"), "America/New_York")
    assert await bill.usage(sid) == {
        ("2026-02-09", "webex_calling"): "0.083333",  # 2/24, rounded half away from zero
        ("2026-02-10", "webex_calling"): "0.5",
    }
    assert await bill.usage(other) == {("2026-03-08", "webex_calling"): "0.478261"}  # 11/23
    (day_len,) = await bill.sql("SELECT day_seconds FROM billing_usage WHERE day = '2026-03-08'")
    assert day_len[0] == 23 * 3600
    await bill.close(D("2026-02-09"), D("2026-02-10"), "UTC")
    assert await bill.usage(sid) == {("2026-02-10", "webex_calling"): "0.583333"}


async def test_wh_b1_close_is_idempotent_and_backfills_a_range(bill: Billing) -> None:
    sid = await bill.subscriber(await bill.customer())
    await bill.assign(sid, "webex_calling", at("2026-02-10 08:00"))
    await bill.close(D("2026-02-10"), D("2026-02-12"))
    first = await bill.usage(sid)
    await bill.close(D("2026-02-10"), D("2026-02-12"))
    assert (
        await bill.usage(sid)
        == first
        == {
            ("2026-02-10", "webex_calling"): "0.666667",  # 16/24
            ("2026-02-11", "webex_calling"): "1",
            ("2026-02-12", "webex_calling"): "1",
        }
    )
    (count,) = await bill.sql("SELECT count(*) FROM billing_usage_day")
    assert count[0] == 3
    # a day is recorded only once it is over
    with pytest.raises(RuleError, match="WH-B1"):
        await store.close_range(bill.db, D("2026-03-14"), D("2026-03-15"), "UTC", D("2026-03-15"))


async def test_wh_b1_close_due_records_each_day_once_up_to_yesterday(bill: Billing) -> None:
    """The daily close records every day after the last one closed, up to yesterday local,
    at most max_days per call (``more`` then says days remain)."""
    sid = await bill.subscriber(await bill.customer())
    await bill.assign(sid, "webex_voice", at("2026-03-01 12:00"))
    job = CloseDue(as_of=at("2026-03-06 00:30"), timezone="UTC", max_days=3)
    r1 = await store.close_due(bill.db, job)
    assert (r1.first, r1.last, r1.more) == (D("2026-03-01"), D("2026-03-03"), True)
    r2 = await store.close_due(bill.db, job)
    assert (r2.first, r2.last, r2.more) == (D("2026-03-04"), D("2026-03-05"), False)
    r3 = await store.close_due(bill.db, job)
    assert r3.days == 0
    usage = await bill.usage(sid)
    assert len(usage) == 5 and usage[("2026-03-01", "webex_voice")] == "0.5"


async def test_wh_a5_a_setup_assist_charge_is_a_billing_line(bill: Billing) -> None:
    """The hook Setup Assist calls: a charge (once per source key) appears in the partner's
    reconciliation report beside usage."""
    cid = await bill.customer()
    spec = store.ChargeSpec(
        source_key="setup_assist:project-1",
        partner_org_id=bill.partner,
        service_name="SETUP_ASSIST",
        sku="A-WHL-SA-EXPRESS",
        description="Setup Assist Express, per location",
        quantity=Decimal(1),
        day=D("2026-02-20"),
        customer_id=cid,
        customer_org_id=f"org-{cid}",
        external_customer_id=f"ext-{cid}",
        subscription_id="Sub-1",
    )
    async with bill.db.session() as s:
        assert await store.add_charge(s, spec) is True
        assert await store.add_charge(s, spec) is False  # the same key: kept once
    report = await bill.report(billingStartDate="2026-02-01", billingEndDate="2026-02-28")
    lines = await bill.csv(report["id"])
    assert [(r["SERVICE_NAME"], r["SKU"], r["QUANTITY"]) for r in lines] == [
        ("SETUP_ASSIST", "A-WHL-SA-EXPRESS", "1")
    ]
