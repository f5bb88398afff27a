"""The ``BroadWorksMigration`` workflow's JSON contract (WH-M1..M3, PX-8): input, policy,
activity arguments and results, updates, the ``progress`` query.

The export itself never travels through Temporal: the start writes it to PostgreSQL (the
``migration_*`` tables) and the workflow carries only the migration's id and counters, so
its history stays a few events per batch of users whatever the customer's size.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from models.common.contract import ActivityRef, Command, Stored
from models.common.types import WEBEX_ID_MAX

Phase = Literal[
    "prechecked", "provisioning", "review", "cut_over", "completed", "failed", "rolled_back"
]
ENDED: frozenset[str] = frozenset({"completed", "rolled_back"})
# User states in ``migration_user``.
UserState = Literal["pending", "provisioned", "failed", "moved", "rolled_back"]


def migration_workflow_id(partner_org_id: str, external_id: str) -> str:
    """``migration-<partner>-<external id>`` (the enterprise ID is a business key, not personal
    data). Also the migration's public ID in the API and the CLI."""
    return f"migration-{partner_org_id}-{external_id}"


class Problem(Stored):
    """One precheck finding: about whom (``user bw-17``, ``enterprise``, ``device …``), which
    field, under which rule; ``blocking`` problems stop the start."""

    subject: str = Field(max_length=300)
    field: str = Field(max_length=200)
    rule: str = Field(max_length=16)
    message: str = Field(max_length=1000)
    blocking: bool = True


class PrecheckReport(Stored):
    ok: bool
    external_id: str | None = Field(None, max_length=64)
    migration_id: str | None = Field(None, max_length=200, description="The workflow ID it gets.")
    users: int = Field(0, ge=0)
    locations: int = Field(0, ge=0)
    numbers: int = Field(0, ge=0)
    devices: int = Field(0, ge=0)
    soft_clients: int = Field(0, ge=0)
    packages: dict[str, int] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list, description="Blocking: nothing starts.")
    warnings: list[Problem] = Field(default_factory=list)


class MigrationPolicy(Stored):
    batch_size: int = Field(100, ge=1, le=1000)
    user_attempts: int = Field(3, ge=1, le=20)
    user_retry_seconds: float = Field(0.2, ge=0, le=60)
    customer_ready_seconds: float = Field(300.0, gt=0)
    batch_timeout_seconds: float = Field(900.0, gt=0)
    heartbeat_seconds: float = Field(30.0, gt=0)
    activity_attempts: int = Field(10, ge=1, le=100)
    max_history_events: int = Field(10_000, ge=100)
    day_seconds: float = 86400.0

    def seconds(self, n: float) -> timedelta:
        return timedelta(seconds=n)


class MigrationCarry(Stored):
    """What a continued-as-new run takes over."""

    phase: Phase
    customer_id: str | None = None
    org_id: str | None = None
    total: int = 0
    done: int = 0
    failed: int = 0
    moved: int = 0
    next_index: int = 0
    started_at: datetime | None = None
    phase_started_at: datetime | None = None
    approved_by: str | None = None
    reason: str = ""
    runs: int = 0


class MigrationInput(Stored):
    migration_id: str = Field(max_length=40)  # the migration row (one per attempt)
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(None, max_length=WEBEX_ID_MAX)
    external_id: str = Field(max_length=64)
    total_users: int = Field(ge=0)
    policy: MigrationPolicy
    task_queue: str = Field(max_length=200)
    wholesale_policy: dict = Field(default_factory=dict)  # the customer's WholesalePolicy
    carry: MigrationCarry | None = None


# --- activity arguments and results ---------------------------------------------------


class CustomerStart(Stored):
    """The wholesale customer the migration created (its workflow is started by ours)."""

    customer_id: str
    workflow_id: str
    packages: list[str]
    total_users: int
    existing: bool = False  # WH-M3: an existing customer (its workflow runs already)


class CustomerReady(Stored):
    status: str
    org_id: str | None = None
    message: str = ""


class BatchArg(Stored):
    migration_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    last: bool = False
    user_attempts: int = 3
    user_retry_seconds: float = 0.2


class BatchResult(Stored):
    done: int = 0  # users provisioned (or moved) in this batch
    failed: int = 0
    total_done: int = 0  # the whole migration's, from the store (a retried batch never
    total_failed: int = 0  # counts a user twice)
    phase: Phase | None = None  # written by the last batch
    reason: str = ""


class RollbackResult(Stored):
    subscribers: int = 0
    users: int = 0
    numbers: int = 0
    customer_removed: bool = False


# --- updates ----------------------------------------------------------------------------


class Approve(Command):
    """WH-M1: the partner's admin reviewed the provisioned data; cut over."""

    by: str = Field("", max_length=254)
    note: str = Field("", max_length=500)


class Rollback(Command):
    """Remove what the migration created, and nothing else."""

    by: str = Field("", max_length=254)
    reason: str = Field("", max_length=500)


class Accepted(Stored):
    phase: Phase
    message: str = ""


# --- query ------------------------------------------------------------------------------


class MigrationProgress(Stored):
    migration_id: str
    workflow_id: str
    phase: Phase
    action: str = ""  # what runs now: provisioning users, cutting over, rolling back
    total: int = 0
    done: int = 0
    failed: int = 0
    left: int = 0
    moved: int = 0
    rate_per_second: float = 0.0
    eta_seconds: float | None = None
    started_at: datetime | None = None
    customer_id: str | None = None
    org_id: str | None = None
    waiting_for: str = ""
    reason: str = ""
    rejected: list[str] = Field(default_factory=list)
    runs: int = 0


class MigrationActivity:
    """The activities of this lifecycle, by name and result (activities/migration)."""

    begin = ActivityRef[CustomerStart]("migration_begin", CustomerStart)
    await_customer = ActivityRef[CustomerReady]("migration_await_customer", CustomerReady)
    provision_batch = ActivityRef[BatchResult]("migration_provision_batch", BatchResult)
    cut_over_batch = ActivityRef[BatchResult]("migration_cut_over_batch", BatchResult)
    set_phase = ActivityRef[None]("migration_set_phase")
    approve = ActivityRef[None]("migration_approve")
    rollback = ActivityRef[RollbackResult]("migration_rollback", RollbackResult)
