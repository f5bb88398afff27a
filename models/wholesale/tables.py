"""Wholesale tables (WH, PX): templates, sub-partners, customers, subscribers, package
assignments (what WH-B1 bills from), API tokens, the restricted-party list, idempotency keys.

Created by migration 0003 only. Customers and subscribers are the read model the HTTP API
lists from: a customer's row is written by its workflow's activities, a subscriber's by the
API's store transactions under the customer's row lock.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.wholesale.contract import WEBEX_ID_MAX


def _ts(nullable: bool = True, index: bool = False) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


def _json(nullable: bool = False) -> sa.Column:
    return sa.Column(JSONB, nullable=nullable)


class WholesaleTemplate(SQLModel, table=True):
    """WH-P2: an onboarding template; its id is the provisioning ID customers name."""

    __tablename__ = "wholesale_template"

    id: str = Field(primary_key=True, max_length=64)  # the provisioning ID
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    language: str = Field(default="en", max_length=8)  # WH-C4: used when a customer gives none
    sp_admin_email: str = Field(max_length=254)
    subscription_id: str = Field(max_length=80)
    auth_mode: str = Field(default="webex", max_length=16)  # webex | partner_sso
    idp_entity_id: str | None = Field(default=None, max_length=300)
    pstn_provider: str | None = Field(default=None, max_length=120)  # all but webex_meetings
    brand_name: str = Field(max_length=200)
    restrict_admin_invites: bool = False  # when attaching to an existing org
    disable_webex_calling: bool = False  # 1:1 non-PSTN calling
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class WholesaleSubPartner(SQLModel, table=True):
    """WH-SP1/PX-6: one level only; the sub-partner is an org of kind ``partner``."""

    __tablename__ = "wholesale_sub_partner"

    org_id: str = Field(foreign_key="org.id", primary_key=True, max_length=WEBEX_ID_MAX)
    parent_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    subscription_id: str = Field(max_length=80)
    provisioning_state: str = Field(default="active", max_length=16)  # active | suspended
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    billing_start_date: datetime | None = Field(default=None, sa_column=_ts())


class WholesaleCustomer(SQLModel, table=True):
    """Read model of one ``WholesaleCustomerProvisioning`` workflow (PX-1 status).

    ``packages`` holds the per-package status: ``[{name, status, warnings, errors}]``.
    Only the workflow's activities write it (the API never writes a status);
    ``status_changed_at`` is PostgreSQL's clock at each write.
    """

    __tablename__ = "wholesale_customer"
    # An externalId is unique per owner: the partner's own customers, or one sub-partner's
    # (migration 0008; a sibling's externalId is none of a sub-partner's business).
    __table_args__ = (
        sa.Index(
            "uq_wholesale_customer_owner_external_id",
            "partner_org_id",
            sa.text("coalesce(sub_partner_org_id, '')"),
            "external_id",
            unique=True,
        ),
    )

    id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, index=True, max_length=WEBEX_ID_MAX)
    external_id: str = Field(max_length=256)
    org_id: str | None = Field(default=None, index=True, max_length=WEBEX_ID_MAX)
    attach: bool = False  # PX-4: wholesale attached to an existing org
    provisioning_id: str = Field(foreign_key="wholesale_template.id", max_length=64)
    status: str = Field(max_length=32, index=True)
    packages: list[dict] = Field(default_factory=list, sa_column=_json())
    errors: list[dict] = Field(default_factory=list, sa_column=_json())
    address: dict = Field(default_factory=dict, sa_column=_json())
    customer_info: dict = Field(default_factory=dict, sa_column=_json())
    provisioning_parameters: dict = Field(default_factory=dict, sa_column=_json())
    request_hash: str = Field(max_length=64)  # idempotent retries of the same POST
    locale: str | None = Field(default=None, max_length=8)  # WH-C4
    meetings_locale: str | None = Field(default=None, max_length=8)
    call_in_number: str | None = Field(default=None, max_length=8)  # WH-C3
    location_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    restricted_by_partner: bool = True  # WH-C6
    compliance_hit_at: datetime | None = Field(default=None, sa_column=_ts())
    compliance_escalated_at: datetime | None = Field(default=None, sa_column=_ts())
    workflow_id: str = Field(max_length=300, unique=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    status_changed_at: datetime = Field(sa_column=_ts(nullable=False))


class WholesaleSubscriber(SQLModel, table=True):
    """WH-S1..S3, PX-2. An email is a subscriber of one customer at a time."""

    __tablename__ = "wholesale_subscriber"

    id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    customer_id: str = Field(
        foreign_key="wholesale_customer.id", index=True, max_length=WEBEX_ID_MAX
    )
    partner_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    email: str = Field(unique=True, max_length=254)
    first_name: str = Field(max_length=120)
    last_name: str = Field(max_length=120)
    package: str = Field(max_length=32)
    primary_phone_number: str | None = Field(default=None, max_length=24)
    extension: str | None = Field(default=None, max_length=16)
    location_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    status: str = Field(max_length=32, index=True)  # provisioned | pending_user_migration
    is_admin: bool = False  # WH-S2
    admin_package: str | None = Field(default=None, max_length=32)  # WH-S2: level to keep
    person_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    consent_round: int = 0  # PX-2: re-sent consents
    errors: list[dict] = Field(default_factory=list, sa_column=_json())
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    last_status_change: datetime = Field(sa_column=_ts(nullable=False))


class WholesalePackageAssignment(SQLModel, table=True):
    """WH-B1: billing runs from ``opened_at`` to ``closed_at``. A change closes one row and
    opens the next with the same instant, so days are never counted twice or lost."""

    __tablename__ = "wholesale_package_assignment"
    __table_args__ = (
        sa.Index(
            "uq_wholesale_assignment_open",
            "subscriber_id",
            unique=True,
            postgresql_where=sa.text("closed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    customer_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    external_customer_id: str = Field(max_length=256)
    partner_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    package: str = Field(max_length=32)
    opened_at: datetime = Field(sa_column=_ts(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=_ts())


class WholesaleApiToken(SQLModel, table=True):
    """A bearer token, stored as a SHA-256 hash only: a partner (or sub-partner) admin's, or
    (``kind`` ``customer_admin``, migration 0009) a customer admin's, scoped to the one
    wholesale customer ``customer_id`` and refused what WH-C6 restricts while its partner
    keeps the customer restricted."""

    __tablename__ = "wholesale_api_token"

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=120)
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    kind: str = Field(default="partner", max_length=16)  # partner | customer_admin
    customer_id: str | None = Field(
        default=None, index=True, max_length=WEBEX_ID_MAX
    )  # customer_admin
    admin_email: str = Field(max_length=254)
    scopes: list[str] = Field(default_factory=list, sa_column=_json())
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts())


class RestrictedParty(SQLModel, table=True):
    """WH-C2: one entry of the restricted/denied party list (loaded from CSV)."""

    __tablename__ = "restricted_party"

    id: int | None = Field(default=None, primary_key=True)
    name_key: str = Field(index=True, max_length=300)  # normalised name
    name: str = Field(max_length=300)
    country: str | None = Field(default=None, max_length=2)
    domain: str | None = Field(default=None, index=True, max_length=253)
    source: str = Field(default="", max_length=120)
    loaded_at: datetime = Field(sa_column=_ts(nullable=False))


class OrgDomain(SQLModel, table=True):
    """PX-4: an existing org with a verified or claimed domain needs its admin's approval."""

    __tablename__ = "org_domain"

    org_id: str = Field(foreign_key="org.id", primary_key=True, max_length=WEBEX_ID_MAX)
    domain: str = Field(primary_key=True, max_length=253)
    verified: bool = False
    claimed: bool = False


class IdempotencyKey(SQLModel, table=True):
    """A retried request with the same key gets the first answer, never a second effect."""

    __tablename__ = "wholesale_idempotency_key"

    owner: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)  # the token's org
    key: str = Field(primary_key=True, max_length=200)
    method: str = Field(max_length=8)
    path: str = Field(max_length=300)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: dict | list | None = Field(default=None, sa_column=_json(nullable=True))
    location: str | None = Field(default=None, max_length=400)
    created_at: datetime = Field(sa_column=_ts(nullable=False, index=True))
