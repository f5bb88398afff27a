"""Migration tables (WH-M1, PX-8): one row per migration attempt and one per user, location,
number, device and soft client of its export. Created by migrations 0007 and 0010 only.

The rows are both the export (the workflow never carries it) and the read model: each
user's state, attempts and reason, what the migration created (so a rollback removes that
and nothing else), and what moved at cut-over.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.common.types import WEBEX_ID_MAX


def _ts(nullable: bool = True) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Migration(SQLModel, table=True):
    __tablename__ = "migration"
    __table_args__ = (
        # one open migration per enterprise; a rolled-back one may be run again
        sa.Index(
            "uq_migration_open",
            "partner_org_id",
            "external_id",
            unique=True,
            postgresql_where=sa.text("state <> 'rolled_back'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    workflow_id: str = Field(index=True, max_length=200)
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    external_id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    language: str = Field(default="en", max_length=8)
    admin_email: str = Field(max_length=254)
    address: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    provisioning_id: str = Field(max_length=64)  # the onboarding template (WH-P2)
    started_by: str = Field(default="", max_length=254)
    state: str = Field(max_length=16, index=True)  # the workflow's phase
    # created by the migration
    customer_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    # WH-M3: migrated into a wholesale customer that existed before (a customer admin's own,
    # or one its partner named): a rollback keeps the customer, its workflow and its users
    existing_customer: bool = False
    org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    total_users: int = 0
    users_done: int = 0
    users_failed: int = 0
    reason: str = Field(default="", max_length=1000)
    approved_by: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class MigrationUser(SQLModel, table=True):
    __tablename__ = "migration_user"

    migration_id: str = Field(foreign_key="migration.id", primary_key=True, max_length=40)
    idx: int = Field(primary_key=True)  # order in the file: batches are index ranges
    user_id: str = Field(max_length=64)  # BroadWorks user ID
    email: str = Field(max_length=254)
    first_name: str = Field(max_length=120)
    last_name: str = Field(max_length=120)
    package: str = Field(max_length=32)
    extension: str | None = Field(default=None, max_length=16)
    number: str | None = Field(default=None, max_length=24)
    location_id: str | None = Field(default=None, max_length=64)
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    reason: str = Field(default="", max_length=1000)
    # created by the migration
    subscriber_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    created_user_id: str | None = Field(default=None, max_length=40)  # org user it created
    # PX-2: a moved account
    previous_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    client: str | None = Field(default=None, max_length=16)  # uc_one -> webex_app
    notice_key: str | None = Field(default=None, max_length=300)
    updated_at: datetime | None = Field(default=None, sa_column=_ts())


class MigrationLocation(SQLModel, table=True):
    __tablename__ = "migration_location"

    migration_id: str = Field(foreign_key="migration.id", primary_key=True, max_length=40)
    location_id: str = Field(primary_key=True, max_length=64)  # BroadWorks group ID
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    timezone: str = Field(default="", max_length=64)
    address: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    webex_location_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)


class MigrationNumber(SQLModel, table=True):
    __tablename__ = "migration_number"

    migration_id: str = Field(foreign_key="migration.id", primary_key=True, max_length=40)
    number: str = Field(primary_key=True, max_length=24)  # E.164
    location_id: str = Field(max_length=64)
    created: bool = False  # the migration wrote its phone_number row


class MigrationDevice(SQLModel, table=True):
    __tablename__ = "migration_device"

    migration_id: str = Field(foreign_key="migration.id", primary_key=True, max_length=40)
    mac: str = Field(primary_key=True, max_length=12)  # normalised: 12 hex digits
    model: str = Field(max_length=80)
    owner: str = Field(index=True, max_length=64)  # BroadWorks user ID
    state: str = Field(default="broadworks", max_length=16)  # broadworks | moved
    moved_at: datetime | None = Field(default=None, sa_column=_ts())


class MigrationSoftClient(SQLModel, table=True):
    __tablename__ = "migration_soft_client"

    migration_id: str = Field(foreign_key="migration.id", primary_key=True, max_length=40)
    owner: str = Field(primary_key=True, max_length=64)
    platform: str = Field(primary_key=True, max_length=16)
    client: str = Field(default="uc_one", max_length=16)  # uc_one -> webex_app (WH-M1)
    upgraded_at: datetime | None = Field(default=None, sa_column=_ts())
