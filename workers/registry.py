"""Every workflow and activity the worker serves, from one list each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from activities.mail import Mailer
from activities.trial import TrialActivities
from models.db import Database
from workflows.trial import TrialLifecycle

WORKFLOWS: Sequence[type] = [TrialLifecycle]


@dataclass
class Deps:
    """What activities need from the outside world."""

    db: Database
    mailer: Mailer


def activities(deps: Deps) -> list[Callable[..., Any]]:
    trial = TrialActivities(deps.db, deps.mailer)
    return [
        trial.open_trial,
        trial.provision_trial,
        trial.record_trial,
        trial.check_services_available,
        trial.check_full_admin,
        trial.record_consent,
        trial.send_notices,
        trial.end_trial_services,
        trial.migrate_to_free_org,
        trial.release_numbers,
        trial.convert_trial,
        trial.remove_pending_customer,
    ]
