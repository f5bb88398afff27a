"""WH-S3 with phonenumbers: one number however it is spelled (see tests/test_validation.py
for the other library-kept values)."""

from __future__ import annotations

from sqlmodel import select

from models.wholesale.tables import WholesaleSubscriber


async def test_wh_s3_conflict_across_two_spellings_of_one_number(wh):
    """WH-S3: a subscriber's number is stored in E.164; ``+14155550100`` then conflicts with
    the subscriber given ``+1 (415) 555-0100`` (precheck and provisioning alike), and
    nothing more is written."""
    a = await wh.customer(packages=["webex_calling"], wait_for=("provisioned",))
    b = await wh.customer(packages=["webex_calling"], wait_for=("provisioned",))
    r = await wh.subscriber(a, params={"primaryPhoneNumber": "+1 (415) 555-0100"})
    assert r.status_code == 200, r.text
    async with wh.db.session() as s:
        (stored,) = (await s.exec(select(WholesaleSubscriber.primary_phone_number))).all()
    assert stored == "+14155550100"

    body = {
        "customerId": b,
        "email": "other@pizza.test",
        "package": "webex_calling",
        "provisioningParameters": {"primaryPhoneNumber": "+14155550100"},
    }
    r = await wh.http.post("/v1/wholesale/subscribers/validate", json=body, headers=wh.auth())
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["provisioningParameters.primaryPhoneNumber"]
    r = await wh.subscriber(b, params={"primaryPhoneNumber": "+1-415-555-0100"})
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["provisioningParameters.primaryPhoneNumber"]
    async with wh.db.session() as s:
        assert len((await s.exec(select(WholesaleSubscriber.id))).all()) == 1


async def test_wh_s1_a_national_number_is_refused_naming_the_field(wh):
    """WH-S1: a number without its country code is ambiguous: refused, naming the field."""
    a = await wh.customer(packages=["webex_calling"], wait_for=("provisioned",))
    r = await wh.subscriber(a, params={"primaryPhoneNumber": "415 555 0100"}, extension=None)
    assert r.status_code == 400, r.text
    (e,) = r.json()["errors"]
    assert e["field"] == "provisioningParameters.primaryPhoneNumber"
    assert "international" in e["description"]
