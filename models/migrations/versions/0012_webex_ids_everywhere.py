"""webex ids everywhere: what 0011 did for the wholesale tables, for the rest. The shared
``org`` table and every column that holds an org id (users, licenses, numbers, a partner's
customer list, subdomains, meeting sites), the orders and Setup Assist lifecycles (their
org, customer, sub-partner and location ids, and a Setup Assist project's workflow id, which
carries its location id), and the org ids of trials, their devices and migrations (and a
migrated location's Webex location id) hold an id of Webex's shape and length
(``models.common.types.WEBEX_ID_MAX``; base64 of ``ciscospark://us/ORGANIZATION/<uuid>`` is
88 characters). This system's own ids (trials,
migrations, org users) keep 40. Widening a varchar rewrites no table and no index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 12:50:00
"""

from models.common.resize import narrow, widen, widened

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = ("0004", "0006", "0010")  # orders, setup_assist, migration

WEBEX_ID = 256  # models.common.types.WEBEX_ID_MAX on the day this was written
# table -> (column, length before)
WIDENED: dict[str, list[tuple[str, int]]] = {
    "org": [("id", 40)],
    "org_user": [("org_id", 40)],
    "partner_customer": [("partner_org_id", 40), ("customer_org_id", 40)],
    "license": [("org_id", 40)],
    "phone_number": [("org_id", 40)],
    "org_subdomain": [("org_id", 40)],
    "order_meeting_site": [("org_id", 40)],
    "subscription_order": [
        ("submitted_by_org_id", 40),
        ("partner_org_id", 40),
        ("customer_org_id", 40),
    ],
    "setup_assist_entitlement": [("partner_org_id", 40)],
    "setup_assist_project": [
        ("id", 40),
        ("location_id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("customer_id", 40),
        ("customer_org_id", 40),
    ],
    "trial": [("partner_org_id", 40), ("customer_org_id", 40), ("free_org_id", 40)],
    "device_trial": [("partner_org_id", 40), ("customer_org_id", 40)],
    "migration": [
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("customer_id", 40),
        ("org_id", 40),
    ],
    "migration_user": [("subscriber_id", 40), ("previous_org_id", 40)],
    "migration_location": [("webex_location_id", 64)],  # its BroadWorks group id keeps 64
}
WORKFLOW_ID = ("setup_assist_project", "workflow_id", 80, 300)  # "setup-assist-" + location

RESIZED = [*widened(WIDENED, WEBEX_ID), WORKFLOW_ID]


def upgrade() -> None:
    widen(RESIZED)


def downgrade() -> None:
    """Back to 40 (80 for the workflow id): fails, as it should, if a longer id is stored."""
    narrow(RESIZED)
