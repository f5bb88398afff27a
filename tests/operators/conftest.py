"""A customer with a lifecycle of every kind, written straight into each lifecycle's read
model (the operator views only read them), plus a second partner and its own customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from models.billing.tables import BillingCustomerRef, BillingUsage
from models.common.db import Database
from models.common.orgs import create_customer_org, create_partner
from models.common.tables import PartnerCustomer
from models.devices.tables import DeviceTrialRow
from models.migration.tables import Migration
from models.orders.tables import OrderRecord
from models.setup_assist.tables import SetupAssistProject
from models.trials.tables import Trial
from models.wholesale.store import create_sub_partner, create_token
from models.wholesale.tables import WholesaleCustomer, WholesaleTemplate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCOPES = ["wholesale_customers_read"]


@dataclass
class Customers:
    partner: str = ""
    other_partner: str = ""
    sub_partner: str = ""
    org: str = ""  # Globex: one lifecycle of each kind, all of `partner`
    other_org: str = ""  # Initech: `other_partner`'s trial only
    token: str = ""
    other_token: str = ""
    sub_token: str = ""
    ids: dict[str, str] = field(default_factory=dict)


def _trial(tid: str, partner: str, org: str, state: str, next_at: datetime | None) -> Trial:
    return Trial(
        id=tid,
        workflow_id=f"trial-{tid}",
        partner_org_id=partner,
        customer_org_id=org,
        started_by="sales@partner.test",
        customer_admin_email="admin@globex.test",
        new_customer=False,
        services=["messaging", "calling"],
        license_count=25,
        days=30,
        state=state,
        created_at=NOW - timedelta(days=20),
        activated_at=NOW - timedelta(days=20),
        ends_at=NOW + timedelta(days=10),
        grace_ends_at=NOW + timedelta(days=40),
        next_deadline_at=next_at,
        next_deadline_kind="expiry_t_minus_7" if next_at else None,
        updated_at=NOW,
    )


@pytest.fixture
async def customers(db: Database) -> Customers:
    c = Customers()
    async with db.session() as s:
        c.partner = await create_partner(s, "Acme Partner", 1, [("full@acme.test", "full")])
        c.other_partner = await create_partner(s, "Other Telco", 1, [("full@other.test", "full")])
        c.org = await create_customer_org(s, "Globex Corporation", [("it@globex.test", "full")], [])
        c.other_org = await create_customer_org(s, "Initech", [("it@initech.test", "full")], [])
        c.sub_partner = await create_sub_partner(
            s, c.partner, "Acme Reseller", "sub-r", [("full@reseller.test", "full")]
        )
        s.add(
            PartnerCustomer(
                partner_org_id=c.partner, customer_org_id=c.org, status="trial", since=NOW
            )
        )
        s.add(
            PartnerCustomer(
                partner_org_id=c.other_partner,
                customer_org_id=c.other_org,
                status="trial",
                since=NOW,
            )
        )
        s.add(_trial("tr-globex", c.partner, c.org, "active", NOW + timedelta(days=3)))
        s.add(_trial("tr-initech", c.other_partner, c.other_org, "active", NOW))
        await s.flush()
        s.add(
            DeviceTrialRow(
                trial_id="tr-globex",
                workflow_id="devices-tr-globex",
                partner_org_id=c.partner,
                customer_org_id=c.org,
                state="shipped",
                trial_days=30,
                first_shipped_at=NOW - timedelta(days=15),
                expires_at=NOW + timedelta(days=15),
                return_due_at=NOW + timedelta(days=29),
                next_deadline_at=NOW + timedelta(days=15),
                next_deadline_kind="devices_expire",
                created_at=NOW - timedelta(days=15),
                updated_at=NOW,
            )
        )
        s.add(
            OrderRecord(
                id="ord-1",
                workflow_id="order-ord-1",
                submitted_by_org_id=c.partner,
                offer="flex",
                lines=[],
                requested_start_date=date(2026, 3, 10),
                start_at=NOW + timedelta(days=8),
                contact_email="buyer@globex.test",
                account_rep_email="rep@acme.test",
                state="awaiting_setup",
                partner_org_id=c.partner,
                customer_org_id=c.org,
                next_deadline_at=NOW + timedelta(days=1),
                next_deadline_kind="setup_reminder",
                request_hash="x",
                created_at=NOW - timedelta(days=1),
                updated_at=NOW,
            )
        )
        s.add(
            WholesaleTemplate(
                id="tpl-1",
                partner_org_id=c.partner,
                name="Standard",
                country="US",
                sp_admin_email="ops@acme.test",
                subscription_id="sub-1",
                brand_name="Acme",
                created_at=NOW,
            )
        )
        await s.flush()
        s.add(
            WholesaleCustomer(
                id="wc-1",
                partner_org_id=c.partner,
                sub_partner_org_id=c.sub_partner,
                external_id="ext-1",
                org_id=c.org,
                attach=True,
                provisioning_id="tpl-1",
                status="pending_rpl_review",
                errors=[{"errorCode": 4300, "description": "WH-C2: pending review"}],
                request_hash="x",
                workflow_id="wholesale-customer-wc-1",
                created_at=NOW - timedelta(days=2),
                status_changed_at=NOW - timedelta(days=2),
            )
        )
        s.add(
            SetupAssistProject(
                id="loc-1",
                location_id="loc-1",
                workflow_id="setup-assist-loc-1",
                partner_org_id=c.partner,
                sub_partner_org_id=c.sub_partner,
                customer_id="wc-1",
                customer_org_id=c.org,
                subscription_id="sub-1",
                flow="express",
                seats=5,
                country="US",
                submitted_on=date(2026, 3, 1),
                completion_date=date(2026, 3, 20),
                request_hash="x",
                state="in_progress",
                current_phase=2,
                next_deadline_at=NOW + timedelta(days=2),
                next_deadline_kind="phase_2_due",
                created_at=NOW - timedelta(days=1),
                updated_at=NOW,
            )
        )
        s.add(
            Migration(
                id="mig-1",
                workflow_id="migration-mig-1",
                partner_org_id=c.partner,
                external_id="bw-ent-1",
                name="Globex enterprise",
                country="US",
                admin_email="it@globex.test",
                provisioning_id="tpl-1",
                state="review",
                org_id=c.org,
                total_users=10,
                users_done=4,
                created_at=NOW - timedelta(days=3),
                updated_at=NOW,
            )
        )
        s.add(
            BillingCustomerRef(
                customer_id="wc-1",
                org_id=c.org,
                external_id="ext-1",
                partner_org_id=c.partner,
                sub_partner_org_id=c.sub_partner,
                updated_at=NOW,
            )
        )
        s.add(
            BillingUsage(
                day=date(2026, 3, 1),
                subscriber_id="sub-a",
                package="webex_calling",
                partner_org_id=c.partner,
                sub_partner_org_id=c.sub_partner,
                customer_id="wc-1",
                external_customer_id="ext-1",
                customer_org_id=c.org,
                seconds=86400,
                day_seconds=86400,
                quantity=Decimal(1),
            )
        )
        _, c.token = await create_token(
            s, partner_org_id=c.partner, admin_email="full@acme.test", scopes=SCOPES
        )
        _, c.other_token = await create_token(
            s, partner_org_id=c.other_partner, admin_email="full@other.test", scopes=SCOPES
        )
        _, c.sub_token = await create_token(
            s,
            partner_org_id=c.partner,
            sub_partner_org_id=c.sub_partner,
            admin_email="full@reseller.test",
            scopes=SCOPES,
        )
    return c


# The wholesale world (partner, template, tokens, HTTP API, worker) for PX-4's waiting state.
from tests.wholesale.conftest import wh, wh_settings  # noqa: E402, F401
