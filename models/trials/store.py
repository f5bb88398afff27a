"""The trial's transactions, called by the starter, the CLI and the activities."""

from __future__ import annotations

from models.common.db import Database
from models.trials.contract import TrialInput, TrialPolicy, TrialRequest
from models.trials.rules import resolve_trial


async def start_checks(
    db: Database, req: TrialRequest, trial_id: str, policy: TrialPolicy
) -> TrialInput:
    """The starter's view of the start rules (nothing is written)."""
    async with db.session() as s:
        return await resolve_trial(s, req, policy, trial_id)
