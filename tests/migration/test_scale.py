"""WH-M1 at scale, small: batches (never one activity per user), a history that stays small
and continues as new, nothing doubled."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from models.migration.tables import MigrationUser
from models.wholesale.tables import WholesalePackageAssignment, WholesaleSubscriber
from scripts.gen_broadworks import generate
from tests.migration.conftest import Migrations
from workers.settings import Settings


@pytest.fixture
def mig_settings() -> Settings:
    return Settings(
        migration_batch_size=4,
        migration_user_retry_seconds=0.0,
        migration_max_history_events=100,
    )


async def test_wh_m1_batches_continue_as_new_and_nothing_is_doubled(mig: Migrations) -> None:
    export = generate(60, enterprise="ent-scale", seed=3)
    wid = await mig.started(export)
    p = await mig.wait_phase(wid, "review")  # a bound, not a timing: returns when it holds
    assert (p.total, p.done, p.failed) == (60, 60, 0)
    assert p.runs >= 1  # continued as new past 100 events, counters carried

    async with mig.db.session() as s:
        subs = (await s.exec(select(func.count()).select_from(WholesaleSubscriber))).one()
        open_ = (await s.exec(select(func.count()).select_from(WholesalePackageAssignment))).one()
        states = set((await s.exec(select(MigrationUser.state))).all())
    assert subs == 60 and open_ == 60 and states == {"provisioned"}

    # the history: a handful of events per batch of 4 users, every run under the cap
    events = 0
    async for e in mig.env.client.get_workflow_handle(wid).fetch_history_events():
        events += 1
        assert e.event_type != 0
    assert events < 100  # the current run alone


def test_wh_m1_migration_0007_creates_the_tables_the_models_describe(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    import models.all_tables  # noqa: F401
    from models.common.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    mine = [d for d in diff if "migration" in repr(d)]
    assert mine == []


async def test_wh_s3_a_batch_at_once_leaves_whatever_needs_judging_to_one_by_one(
    mig: Migrations,
) -> None:
    """WH-S3, WH-S2: ``provision_subscribers`` (a migration batch in one transaction) takes
    only users with nothing to judge; a number or extension twice in the batch, an email in
    use, a package the customer lacks are left out (``provision_subscriber`` refuses them
    one by one), and a retry answers the same subscribers."""
    from models.common.tables import OrgUser
    from models.wholesale.store import Scope, SubscriberSpec, provision_subscribers
    from models.wholesale.tables import WholesaleCustomer

    wid = await mig.started()
    await mig.wait_phase(wid, "review")
    async with mig.db.session() as s:
        c = (await s.exec(select(WholesaleCustomer))).one()
        taken = (await s.exec(select(OrgUser.email))).first()
    assert taken is not None

    def spec(email: str, **kw) -> SubscriberSpec:
        base = dict(
            customer_id=c.id,
            email=email,
            package="webex_calling",
            first_name="A",
            last_name="B",
            primary_phone_number=None,
            extension=None,
            location_id=None,
        )
        base.update(kw)
        return SubscriberSpec(**base)

    specs = [
        spec("ok1@x.example", extension="7001"),
        spec("ok2@x.example", extension="7002", primary_phone_number="+14085559001"),
        spec("dup-ext-a@x.example", extension="7003"),
        spec("dup-ext-b@x.example", extension="7003"),
        spec("dup-num-a@x.example", extension="7004", primary_phone_number="+14085559002"),
        spec("dup-num-b@x.example", extension="7005", primary_phone_number="+1 408 555 9002"),
        spec(taken, extension="7006"),
        spec("no-pkg@x.example", package="webex_calling_pro", extension="7007"),
        spec("ext-taken@x.example", extension="1001"),  # ann's, from the sample
    ]
    scope = Scope(mig.partner)
    got = await provision_subscribers(mig.db, scope, specs)
    assert sorted(got) == ["ok1@x.example", "ok2@x.example"]
    assert not any(x.is_admin for x in got.values())  # the org has its admin already
    again = await provision_subscribers(mig.db, scope, specs)
    assert {e: x.id for e, x in again.items()} == {e: x.id for e, x in got.items()}
    async with mig.db.session() as s:
        subs = (await s.exec(select(func.count()).select_from(WholesaleSubscriber))).one()
        assignments = (
            await s.exec(select(func.count()).select_from(WholesalePackageAssignment))
        ).one()
    assert (subs, assignments) == (8, 8)  # the sample's 6, and the two
