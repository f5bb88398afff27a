"""WH-M2: the wholesale API refuses Webex-for-BroadWorks customers; they come in only
through migration."""

from __future__ import annotations

from sqlmodel import select

from models.wholesale.tables import WholesaleCustomer
from tests.migration.conftest import Migrations


async def test_wh_m2_customer_create_refuses_a_webex_for_broadworks_customer(
    mig: Migrations,
) -> None:
    body = {
        "provisioningId": mig.template,
        "packages": ["webex_calling"],
        "externalId": "ent-pizza",
        "address": {
            "addressLine1": "771 Alder Drive",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "customerInfo": {"name": "Pizza Palace Co", "primaryEmail": "it@pizza-palace.example"},
        "webexForBroadWorks": True,
    }
    r = await mig.http.post("/v1/wholesale/customers", json=body, headers=mig.auth)
    assert r.status_code == 400, r.text
    assert r.json()["description"].startswith("WH-M2 (webexForBroadWorks):")
    async with mig.db.session() as s:
        assert (await s.exec(select(WholesaleCustomer))).all() == []

    # the same enterprise through the migration is accepted, and marked as such
    wid = await mig.started()
    await mig.wait_phase(wid, "review")
    async with mig.db.session() as s:
        c = (await s.exec(select(WholesaleCustomer))).one()
    assert c.provisioning_parameters["webexForBroadWorks"] is True
    assert c.provisioning_parameters["migration"] == wid
