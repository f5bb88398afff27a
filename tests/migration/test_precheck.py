"""WH-S3, PX-8: the precheck lists every problem by user and field before anything is
written; a file with blocking problems does not start. The export schema and generator."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from models.common.orgs import create_customer_org
from models.common.tables import Org, OrgUser, PhoneNumber
from models.migration.export import BroadWorksExport
from models.migration.rules import parse_export
from models.migration.tables import Migration
from models.wholesale.tables import WholesaleCustomer
from scripts.gen_broadworks import generate
from tests.migration.conftest import Migrations, sample


def test_px_8_sample_and_generated_exports_follow_the_schema() -> None:
    x, problems = parse_export(sample())
    assert problems == [] and x is not None
    assert len(x.users) == 6 and len(x.devices) == 4 and len(x.soft_clients) == 4
    schema = BroadWorksExport.model_json_schema()
    assert {"enterprise", "users", "numbers", "devices", "soft_clients"} <= set(
        schema["properties"]
    )
    big = generate(500, enterprise="ent-gen")
    x, problems = parse_export(big)
    assert problems == [] and x is not None and len(x.users) == 500
    assert generate(500, enterprise="ent-gen") == big  # deterministic


def test_px_8_a_malformed_file_is_refused_by_user_and_field() -> None:
    data = sample()
    del data["users"][1]["email"]
    data["users"][2]["nickname"] = "C"
    data["devices"][0]["mac"] = "00"
    _, problems = parse_export(data)
    assert {(p.subject, p.field, p.rule) for p in problems} == {
        ("user bw-ben", "email", "PX-8"),
        ("user bw-chloe", "nickname", "PX-8"),
        ("device 00", "mac", "PX-8"),
    }


async def test_wh_s3_conflicts_are_refused_at_precheck_with_every_problem_listed(
    mig: Migrations,
) -> None:
    data = sample()
    users = {u["id"]: u for u in data["users"]}
    users["bw-ben"]["email"] = "ben@@pizza-palace.example"
    users["bw-chloe"]["extension"] = "1001"  # ann's
    users["bw-dan"]["package"] = "webex_gold"
    users["bw-eva"]["location_id"] = "nowhere"
    users["bw-finn"]["email"] = "ANN@pizza-palace.example"  # ann's, other case
    data["numbers"].append({"number": "+1408555", "location_id": "hq"})
    data["devices"].append({"model": "Cisco 8851", "mac": "00:1B:54:AA:09:09", "owner": "bw-x"})
    async with mig.db.session() as s:  # what exists already (WH-S3)
        other = await create_customer_org(s, "Other Co", [("it@other.test", "full")], [])
        s.add(
            OrgUser(
                id="u-chloe",
                org_id=other,
                email="chloe@pizza-palace.example",
                created_at=datetime.now(UTC),
            )
        )
        s.add(PhoneNumber(number="+14085550201", org_id=other, state="assigned"))
        s.add(Org(id="o-free", kind="free", name="Free", created_at=datetime.now(UTC)))
        await s.flush()
        s.add(
            OrgUser(
                id="u-ann",
                org_id="o-free",
                email="ann@pizza-palace.example",
                created_at=datetime.now(UTC),
            )
        )

    r = await mig.start(data)
    assert r.status_code == 409, r.text
    body = r.json()
    found = {(p["subject"], p["field"], p["rule"]) for p in body["report"]["problems"]}
    assert found == {
        ("user bw-ben", "email", "WH-S1"),
        ("user bw-chloe", "extension", "WH-S3"),
        ("user bw-ann", "extension", "WH-S3"),
        ("user bw-dan", "package", "WH-P1"),
        ("user bw-dan", "package", "WH-M1"),  # owns a desk phone: needs a calling package
        ("user bw-eva", "location_id", "PX-8"),
        ("user bw-finn", "email", "WH-S3"),
        ("user bw-ann", "email", "WH-S3"),
        ("number +1408555", "number", "WH-S1"),
        ("device 00:1B:54:AA:09:09", "owner", "PX-8"),
        ("user bw-chloe", "email", "WH-S3"),  # in use in another org
        ("user bw-dan", "number", "WH-S3"),  # the number belongs to another org
    }
    assert len(body["errors"]) == len(found)
    assert all(e["description"].startswith(("user ", "number ", "device ")) for e in body["errors"])
    # nothing was written, nothing started
    async with mig.db.session() as s:
        assert (await s.exec(select(Migration))).all() == []
        assert (await s.exec(select(WholesaleCustomer))).all() == []

    # the precheck endpoint answers the same list, and the PX-2 warning
    r = await mig.http.post("/v1/migrations/precheck", json=mig.body(data), headers=mig.auth)
    assert r.status_code == 200
    report = r.json()
    assert report["ok"] is False
    assert {(p["subject"], p["field"], p["rule"]) for p in report["problems"]} == found
    assert sorted((w["subject"], w["rule"]) for w in report["warnings"]) == [
        ("user bw-ann", "PX-2"),  # a free account: consent needed, not blocking
        ("user bw-finn", "PX-2"),
    ]


async def test_wh_s3_a_clean_file_prechecks_ok_with_warnings(mig: Migrations) -> None:
    async with mig.db.session() as s:
        s.add(Org(id="o-free", kind="free", name="Free", created_at=datetime.now(UTC)))
        await s.flush()
        s.add(
            OrgUser(
                id="u-ben",
                org_id="o-free",
                email="ben@pizza-palace.example",
                created_at=datetime.now(UTC),
            )
        )
    r = await mig.http.post("/v1/migrations/precheck", json=mig.body(), headers=mig.auth)
    report = r.json()
    assert report["ok"] is True and report["problems"] == []
    assert report["users"] == 6 and report["packages"]["webex_calling"] == 2
    assert [(w["subject"], w["field"], w["rule"]) for w in report["warnings"]] == [
        ("user bw-ben", "email", "PX-2")
    ]
    assert report["migration_id"] == f"migration-{mig.partner}-ent-pizza"
