"""webex id lengths: every wholesale id column holds an id of Webex's shape and length
(base64 of ``ciscospark://us/ORGANIZATION/<uuid>`` is 88 characters; 256 leaves room for
longer kinds), as the contract (models/wholesale/contract.py ``Id``) and the API accept: org,
sub-partner, customer, subscriber, person and location ids, the customer's workflow id
that carries its id, and billing's copies of them (its triggers copy wholesale rows into
``billing_customer_ref`` and ``billing_subscriber_ref``; usage, charges and reports carry the
same ids), so an id the API accepts is one every table it reaches holds (issue 9, Cisco's
spec). Widening a varchar rewrites no table and no index.

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-22 11:00:00
"""

from models.common.resize import narrow, widen, widened

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = ("0005",)  # billing's tables

WEBEX_ID = 256
# table -> (column, length before)
WIDENED: dict[str, list[tuple[str, int]]] = {
    "wholesale_template": [("partner_org_id", 40)],
    "wholesale_sub_partner": [("org_id", 40), ("parent_org_id", 40)],
    "wholesale_customer": [
        ("id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("org_id", 40),
        ("location_id", 40),
    ],
    "wholesale_subscriber": [
        ("id", 40),
        ("customer_id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("location_id", 40),
        ("person_id", 40),
    ],
    "wholesale_package_assignment": [
        ("subscriber_id", 40),
        ("customer_id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
    ],
    "wholesale_api_token": [
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("customer_id", 40),
    ],
    "org_domain": [("org_id", 40)],
    "wholesale_idempotency_key": [("owner", 40)],
    "billing_usage": [
        ("subscriber_id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("customer_id", 40),
        ("customer_org_id", 40),
        ("user_id", 40),
    ],
    "billing_customer_ref": [
        ("customer_id", 40),
        ("org_id", 40),
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
    ],
    "billing_subscriber_ref": [("subscriber_id", 40), ("customer_id", 40), ("user_id", 40)],
    "billing_charge": [
        ("partner_org_id", 40),
        ("sub_partner_org_id", 40),
        ("customer_id", 40),
        ("customer_org_id", 40),
    ],
    "billing_report": [("partner_org_id", 40), ("sub_partner_org_id", 40)],
}
WORKFLOW_ID = ("wholesale_customer", "workflow_id", 80, 300)

RESIZED = [*widened(WIDENED, WEBEX_ID), WORKFLOW_ID]


def upgrade() -> None:
    widen(RESIZED)


def downgrade() -> None:
    """Back to 40 (80 for the workflow id): fails, as it should, if a longer id is stored."""
    narrow(RESIZED)
