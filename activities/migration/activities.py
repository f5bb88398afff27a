"""Activities of ``BroadWorksMigration`` (WH-M1, PX-8): thin calls into
``models.migration.store``. The long ones (waiting for the customer, a batch of users, the
rollback) heartbeat, so a worker that dies mid-batch is noticed within the heartbeat
timeout and the batch resumes on another worker, skipping the users already done."""

from __future__ import annotations

import structlog
from temporalio import activity
from temporalio.service import RPCError

from activities.common import Activities
from models.migration import store
from models.migration.contract import (
    BatchArg,
    BatchResult,
    CustomerReady,
    CustomerStart,
    RollbackResult,
)

log = structlog.get_logger(__name__)


def _heartbeat(*details: object) -> None:
    activity.heartbeat(*details)


class MigrationActivities(Activities):
    @activity.defn
    async def migration_begin(self, migration_id: str) -> CustomerStart:
        return await store.begin(self.db, migration_id)

    @activity.defn
    async def migration_await_customer(self, migration_id: str, within: float) -> CustomerReady:
        return await store.customer_ready(self.db, migration_id, within, _heartbeat)

    @activity.defn
    async def migration_provision_batch(self, arg: BatchArg) -> BatchResult:
        result = await store.provision_batch(self.db, self.mailer, arg, _heartbeat)
        log.info(
            "migration batch provisioned",
            migration_id=arg.migration_id,
            start=arg.start,
            end=arg.end,
            done=result.done,
            failed=result.failed,
        )
        return result

    @activity.defn
    async def migration_cut_over_batch(self, arg: BatchArg) -> BatchResult:
        return await store.cut_over_batch(self.db, self.mailer, arg, _heartbeat)

    @activity.defn
    async def migration_set_phase(self, migration_id: str, phase: str, reason: str) -> None:
        await store.set_phase(self.db, migration_id, phase, reason)

    @activity.defn
    async def migration_approve(self, migration_id: str, by: str) -> None:
        await store.approve(self.db, migration_id, by)

    @activity.defn
    async def migration_rollback(self, migration_id: str) -> RollbackResult:
        async def stop_customer(workflow_id: str) -> None:
            try:
                await (
                    activity.client()
                    .get_workflow_handle(workflow_id)
                    .terminate(reason="BroadWorks migration rolled back")
                )
            except RPCError as err:  # not found, or already closed: nothing runs
                log.info("customer workflow not running", workflow_id=workflow_id, err=str(err))

        return await store.rollback(self.db, migration_id, stop_customer)
