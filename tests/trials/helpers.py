"""Helpers for trial tests: poll a live status, read outbox rows and store rows."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.common.db import Database
from models.common.tables import License, Notice, Org, OrgUser, PartnerCustomer, PhoneNumber
from models.trials.contract import TrialStatus
from models.trials.tables import Trial
from tests.polling import WITHIN, eventually
from workflows.trials.workflow import TrialLifecycle


async def until(
    handle, pred: Callable[[TrialStatus], object], within: float = WITHIN
) -> TrialStatus:
    """Poll the `status` query until ``pred`` holds (the worker catches up after a skip)."""
    last: list[TrialStatus] = []

    async def probe() -> TrialStatus | None:
        st = await handle.query(TrialLifecycle.status)
        last[:] = [st]
        return st if pred(st) else None

    return await eventually(probe, lambda: f"last status: {last[0] if last else None}", within)


async def notices(db: Database, trial_id: str, kind: str | None = None) -> list[Notice]:
    async with db.session() as s:
        q = select(Notice).where(Notice.trial_id == trial_id).order_by(col(Notice.id))
        if kind:
            q = q.where(Notice.kind == kind)
        return list((await s.exec(q)).all())


async def recipients(db: Database, trial_id: str, kind: str) -> Counter[str]:
    return Counter(n.recipient for n in await notices(db, trial_id, kind))


async def rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session() as s:
        return list((await s.exec(select(model).where(*where))).all())


async def trial_row(db: Database, trial_id: str) -> Trial:
    async with db.session() as s:
        row = await s.get(Trial, trial_id)
    assert row is not None, f"no trial row {trial_id}"
    return row


def tid(handle) -> str:
    return handle.id.removeprefix("trial-")


__all__ = [
    "License",
    "Notice",
    "Org",
    "OrgUser",
    "PartnerCustomer",
    "PhoneNumber",
    "Trial",
    "notices",
    "recipients",
    "refused",
    "rows",
    "tid",
    "trial_row",
    "until",
]


@contextlib.contextmanager
def refused(rule: str, field: str | None = None):
    """An update refused by ``rule`` (its validator or handler), naming ``field``."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        yield err
    cause = err.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.message.startswith(rule), cause.message
    if field:
        assert f"({field})" in cause.message, cause.message
